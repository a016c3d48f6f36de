//! The WDM front end: everything that knows about IRPs, device objects and the pool.

extern crate alloc;

mod debug;
mod device;
mod dispatch;

mod pool;
mod request;
mod runtime;
