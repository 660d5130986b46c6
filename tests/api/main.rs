//! Black-box API tests: each test starts the real application on a free port with a fresh data
//! dir (see `helpers::spawn_app`) and speaks HTTP to it, as a client written from the docs would.

mod account;
mod account_endpoints;
mod auth;
mod clusters;
mod edge;
mod helpers;
mod insights;
mod lambda_events;
mod monitoring;
mod notifications;
mod on_dynamodb;
mod orgs;
mod platforms;
mod rate_limits;
mod reset;
mod role_matrix;
mod schedules;
mod warm_pools;
