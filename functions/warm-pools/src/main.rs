#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    dtap_shared::api::lambda::run(dtap_warm_pools::routes()).await
}
