//! placeholder
use crate::catalog::StreamKind;
use crate::event::Event;

pub fn write(_kind: StreamKind, event: &Event<'_>, out: &mut Vec<u8>) {
    super::native::write(event, out)
}
