//! The WDM front end: everything that knows about IRPs, device objects and the pool.

mod caller;
mod debug;
mod device;
mod dispatch;
mod fs;
mod handles;
mod lock;
mod pool;
mod request;
mod runtime;
mod settings;
mod sockets;
