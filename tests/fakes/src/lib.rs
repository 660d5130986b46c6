//! Stateful fakes of the data platforms' APIs, served on `127.0.0.1:0`, for connector tests and
//! the local server's demo mode. They follow the real APIs' shapes and state machines closely
//! enough that a connector which works against them makes the same calls against the platform.

pub mod databricks;
pub mod dataproc;
pub mod dataproc_keys;
mod loopback;
pub mod receiver;
pub mod synapse;

pub use databricks::{FakeConfig, FakeDatabricks, Fault};
pub use dataproc::{DataprocConfig, DataprocFault, FakeDataproc};
pub use receiver::{FakeReceiver, Received};
pub use synapse::{FakeSynapse, SynapseConfig, SynapseFault};
