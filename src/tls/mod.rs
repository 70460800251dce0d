//! TLS, as a record layer of the decoder chain: records reassembled from
//! the TCP byte streams, the handshake read in clear (versions, cipher
//! suite, SNI, ALPN, alerts), and with a key log, records decrypted and
//! their plaintext handed to the layer above (HTTP/2).

pub mod cert;
pub mod crypto;
pub mod keylog;

pub use keylog::{KeyStore, Secrets};
pub mod conn;
pub mod handshake;

pub use cert::{CertInfo, Validity};
pub use conn::{Decryption, StepKind, TlsAlert, TlsConn, TlsOutput, TlsStep, TlsSummary};
