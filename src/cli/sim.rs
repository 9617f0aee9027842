//! `mimecast-collector sim`: the simulator as a command (filled in with the simulator crate).

use super::EXIT_USAGE;

#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub async fn run(_args: SimArgs) -> u8 {
    EXIT_USAGE
}
