//! The Winsock base service provider DLL for afunix-rs (`WSPStartup` and the SPI).
//!
//! It arrives with the provider issue. Nothing is exported yet, so nothing can be installed
//! or loaded from here; `afunixctl` does not offer to register it.
