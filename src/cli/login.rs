//! `login`: get API 1.0 keys for a service user and print them as a tenant snippet.

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::api::login::{self, AuthKind};
use crate::catalog::{hosts, ApiVersion};
use secrecy::{ExposeSecret, SecretString};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

pub struct LoginArgs<'a> {
    pub email: &'a str,
    pub app_id: &'a str,
    pub region: Option<&'a str>,
    pub base_url: Option<&'a str>,
    pub password_stdin: bool,
    pub out: Option<&'a Path>,
    pub auth: AuthKind,
    pub name: Option<&'a str>,
}

fn read_password(from_stdin: bool) -> std::io::Result<SecretString> {
    let text = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
        zeroize::Zeroize::zeroize(&mut line);
        trimmed
    } else {
        rpassword::prompt_password("Password: ")?
    };
    Ok(SecretString::from(text))
}

fn tenant_name(email: &str) -> String {
    let domain = email.rsplit('@').next().unwrap_or("tenant");
    let first = domain.split('.').next().unwrap_or("tenant");
    let name: String = first
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if name.is_empty() {
        "tenant".into()
    } else {
        name
    }
}

pub async fn run(args: LoginArgs<'_>) -> u8 {
    let parse = |u: &str| url::Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"));
    // Where to log in: the region's host, or what discovery (on the global host or --base-url) says.
    let explicit = match (args.region, args.base_url) {
        (Some(r), _) => match hosts::base_url(ApiVersion::V1, r) {
            Some(u) => Some(parse(u)),
            None => {
                eprintln!(
                    "error: --region {r:?} is not one of {}",
                    hosts::V1_REGIONS.join(", ")
                );
                return EXIT_USAGE;
            }
        },
        (None, _) => None,
    };
    let discovery = match args
        .base_url
        .map(parse)
        .unwrap_or_else(|| parse(hosts::V1_DISCOVERY_HOST))
    {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: --base-url: {e}");
            return EXIT_USAGE;
        }
    };
    // Never follows a redirect: the login request carries the user's password.
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return EXIT_FAILURE;
        }
    };
    let base = match explicit {
        Some(Ok(u)) => u,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
        None => match login::discover(&http, &discovery, args.app_id, args.email).await {
            Ok(u) => {
                eprintln!("region discovered: {u}");
                u
            }
            Err(e) => {
                eprintln!(
                    "error: discovering the region of {}: {e} (or give --region)",
                    args.email
                );
                return EXIT_FAILURE;
            }
        },
    };
    let password = match read_password(args.password_stdin) {
        Ok(p) if !p.expose_secret().is_empty() => p,
        Ok(_) => {
            eprintln!("error: the password is empty");
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("error: cannot read the password: {e} (use --password-stdin when there is no terminal)");
            return EXIT_USAGE;
        }
    };
    let keys = match login::login(&http, &base, args.app_id, args.email, &password, args.auth).await
    {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: login as {} failed: {e}", args.email);
            return EXIT_FAILURE;
        }
    };
    drop(password);
    let region = hosts::V1_REGIONS.iter().find(|r| {
        hosts::base_url(ApiVersion::V1, r).is_some_and(|u| base.as_str().trim_end_matches('/') == u)
    });
    let location = match region {
        Some(r) => format!("region = \"{r}\""),
        None => format!("base_url = \"{}\"", base.as_str().trim_end_matches('/')),
    };
    let snippet = format!(
        "# API 1.0 keys for {email}, from `mimecast-collector login`.\n# Set the service user's Authentication Cache TTL to Never Expire, or these keys expire.\n[[tenant]]\nname = \"{name}\"\napi = \"v1\"\n{location}\napp_id = \"{app_id}\"\napp_key = \"${{MIMECAST_APP_KEY}}\"   # the application key of app_id\naccess_key = \"{access}\"\nsecret_key = \"{secret}\"\nstreams = [\"ttp_url\", \"ttp_attachment\", \"ttp_impersonation\", \"audit\", \"siem_mta\"]\n",
        email = args.email,
        name = args.name.map(str::to_string).unwrap_or_else(|| tenant_name(args.email)),
        app_id = args.app_id,
        access = keys.access_key.expose_secret(),
        secret = keys.secret_key.expose_secret(),
    );
    let snippet = zeroize::Zeroizing::new(snippet);
    match args.out {
        None => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(snippet.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return EXIT_FAILURE;
            }
        }
        Some(path) => {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let written = opts
                .open(path)
                .and_then(|mut f| f.write_all(snippet.as_bytes()).and_then(|_| f.sync_all()));
            if let Err(e) = written {
                eprintln!("error: cannot write {}: {e}", path.display());
                return EXIT_FAILURE;
            }
            eprintln!("keys written to {} (mode 0600)", path.display());
        }
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    #[test]
    fn tenant_names_come_from_the_domain() {
        assert_eq!(super::tenant_name("svc@globex.example"), "globex");
        assert_eq!(super::tenant_name("svc@Acme-Corp.com"), "acme-corp");
    }
}
