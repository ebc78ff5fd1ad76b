//! What the app's commands take: defined in kith-api, so TypeScript is generated from them.

pub use kith_api::input::*;
