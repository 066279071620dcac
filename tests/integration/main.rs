//! The one integration test binary; topics are modules.

mod name;
mod validate;
