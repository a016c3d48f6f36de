//! The WDM front end: everything that knows about IRPs, the driver object and the device
//! object. What it serves is the shared request path in `afunix-kernel`.

mod device;
mod dispatch;
mod request;
