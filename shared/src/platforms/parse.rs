//! The API's `credentials` object, per platform type, into [`Credentials`]; and [`Credentials`]
//! to and from the one JSON secret that holds them.
//!
//! Every rule names its field as the client wrote it (`credentials.workspace_url: must be an
//! https URL`). The stored form is the API's own shape plus `type`, read back through the same
//! parser, so there is one format and one set of rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use url::{Host, Url};

use super::credentials::{
    AwsAuth, Credentials, DatabricksAuth, DatabricksCredentials, DataprocCredentials,
    EmrCredentials, SynapseCredentials,
};
use crate::domain::FieldError;
use crate::domain::platform::PlatformKind;

/// Where a platform endpoint may point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointPolicy {
    /// `https://` to public hosts only (AWS mode): a customer must not be able to make the
    /// service call into its own network or the instance metadata service.
    PublicHttps,
    /// Also `http://` and loopback or private addresses (local mode, for the fake platforms).
    AllowLocal,
}

impl EndpointPolicy {
    pub fn from_allow_local(allow_local_endpoints: bool) -> Self {
        if allow_local_endpoints {
            Self::AllowLocal
        } else {
            Self::PublicHttps
        }
    }
}

const MAX_SECRET_LEN: usize = 4096;
const MAX_ID_LEN: usize = 256;

/// Reads `credentials` for a platform of `kind`. `region` is the request's top-level `region`,
/// which EMR and Dataproc take when `credentials.region` is absent.
pub fn parse(
    kind: PlatformKind,
    credentials: Option<&Value>,
    region: Option<&str>,
    policy: EndpointPolicy,
) -> Result<Credentials, FieldError> {
    let object = match credentials {
        None | Some(Value::Null) => return Err(FieldError::required("credentials")),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(FieldError::new("credentials", "must be an object")),
    };
    let fields = Fields(object);
    match kind {
        PlatformKind::Databricks => databricks(&fields, policy).map(Credentials::Databricks),
        PlatformKind::Emr => emr(&fields, region, policy).map(Credentials::Emr),
        PlatformKind::Dataproc => dataproc(&fields, region, policy).map(Credentials::Dataproc),
        PlatformKind::Synapse => synapse(&fields, policy).map(Credentials::Synapse),
    }
}

/// The secret value that stores `credentials`: the only place they are kept.
pub fn to_secret(credentials: &Credentials) -> SecretString {
    let mut value = match credentials {
        Credentials::Databricks(c) => {
            let mut v = json!({ "workspace_url": c.workspace_url });
            if let Some(warehouse_id) = &c.warehouse_id {
                v["warehouse_id"] = warehouse_id.as_str().into();
            }
            match &c.auth {
                DatabricksAuth::Token(token) => {
                    v["token"] = token.expose_secret().into();
                }
                DatabricksAuth::ServicePrincipal {
                    client_id,
                    client_secret,
                } => {
                    v["client_id"] = client_id.as_str().into();
                    v["client_secret"] = client_secret.expose_secret().into();
                }
            }
            v
        }
        Credentials::Emr(c) => {
            let mut v = json!({ "region": c.region });
            match &c.auth {
                AwsAuth::AssumeRole {
                    role_arn,
                    external_id,
                } => {
                    v["role_arn"] = role_arn.as_str().into();
                    if let Some(external_id) = external_id {
                        v["external_id"] = external_id.as_str().into();
                    }
                }
                AwsAuth::AccessKeys {
                    access_key_id,
                    secret_access_key,
                } => {
                    v["access_key_id"] = access_key_id.as_str().into();
                    v["secret_access_key"] = secret_access_key.expose_secret().into();
                }
            }
            if let Some(endpoint_url) = &c.endpoint_url {
                v["endpoint_url"] = endpoint_url.as_str().into();
            }
            v
        }
        Credentials::Dataproc(c) => {
            let mut v = json!({
                "project_id": c.project_id,
                "region": c.region,
                "service_account_key": c.service_account_key.expose_secret(),
            });
            if let Some(endpoint_url) = &c.endpoint_url {
                v["endpoint_url"] = endpoint_url.as_str().into();
            }
            v
        }
        Credentials::Synapse(c) => json!({
            "tenant_id": c.tenant_id,
            "client_id": c.client_id,
            "client_secret": c.client_secret.expose_secret(),
            "subscription_id": c.subscription_id,
            "resource_group": c.resource_group,
            "workspace_name": c.workspace_name,
            "endpoint_url": c.endpoint_url,
        }),
    };
    value["type"] = credentials.kind().as_str().into();
    SecretString::from(value.to_string())
}

/// Reads back what [`to_secret`] stored. The error never quotes the secret.
pub fn from_secret(secret: &SecretString) -> anyhow::Result<Credentials> {
    let value: Value = serde_json::from_str(secret.expose_secret())
        .map_err(|_| anyhow::anyhow!("stored platform credentials are not JSON"))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .and_then(PlatformKind::parse)
        .ok_or_else(|| anyhow::anyhow!("stored platform credentials have no valid type"))?;
    // Stored values passed the rules when they were written; the endpoint rule is the
    // deployment's, checked then, so it is not applied a second time.
    parse(kind, Some(&value), None, EndpointPolicy::AllowLocal)
        .map_err(|err| anyhow::anyhow!("stored platform credentials are invalid: {err}"))
}

impl Credentials {
    /// The cloud region the credentials are bound to, for platforms that have one.
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Emr(c) => Some(&c.region),
            Self::Dataproc(c) => Some(&c.region),
            Self::Databricks(_) | Self::Synapse(_) => None,
        }
    }

    /// The field to name when the platform cannot be reached at all.
    pub fn endpoint_field(&self) -> &'static str {
        match self {
            Self::Databricks(_) => "credentials.workspace_url",
            Self::Emr(c) if c.endpoint_url.is_some() => "credentials.endpoint_url",
            Self::Synapse(c) if c.endpoint_url.is_some() => "credentials.endpoint_url",
            Self::Emr(_) => "credentials.region",
            Self::Dataproc(c) if c.endpoint_url.is_some() => "credentials.endpoint_url",
            Self::Dataproc(_) => "credentials.service_account_key.token_uri",
            Self::Synapse(_) => "credentials.workspace_name",
        }
    }
}

/// The fields of one JSON object, read with the field names the client used.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// A trimmed, non-empty string, or `None` when absent or null.
    fn string(&self, name: &str) -> Result<Option<String>, FieldError> {
        let field = format!("credentials.{name}");
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => {
                let value = raw.trim();
                if value.is_empty() {
                    Err(FieldError::new(field, "must not be empty"))
                } else if value.chars().any(char::is_control) {
                    Err(FieldError::new(
                        field,
                        "must not contain control characters",
                    ))
                } else {
                    Ok(Some(value.to_owned()))
                }
            }
            Some(_) => Err(FieldError::new(field, "must be a string")),
        }
    }

    fn required(&self, name: &str) -> Result<String, FieldError> {
        self.string(name)?
            .ok_or_else(|| FieldError::required(&format!("credentials.{name}")))
    }

    /// A token or key: no whitespace inside, bounded length.
    fn secret(&self, name: &str) -> Result<Option<SecretString>, FieldError> {
        let Some(value) = self.string(name)? else {
            return Ok(None);
        };
        let field = format!("credentials.{name}");
        if value.len() > MAX_SECRET_LEN {
            return Err(FieldError::new(field, "must be at most 4096 characters"));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(FieldError::new(field, "must not contain whitespace"));
        }
        Ok(Some(SecretString::from(value)))
    }

    /// An identifier: no whitespace, bounded length.
    fn identifier(&self, name: &str) -> Result<Option<String>, FieldError> {
        let Some(value) = self.string(name)? else {
            return Ok(None);
        };
        let field = format!("credentials.{name}");
        if value.len() > MAX_ID_LEN || value.chars().any(char::is_whitespace) {
            return Err(FieldError::new(
                field,
                "must be at most 256 characters without whitespace",
            ));
        }
        Ok(Some(value))
    }
}

fn databricks(
    fields: &Fields<'_>,
    policy: EndpointPolicy,
) -> Result<DatabricksCredentials, FieldError> {
    let workspace_url = endpoint_url(
        "credentials.workspace_url",
        &fields.required("workspace_url")?,
        policy,
    )?;
    let token = fields.secret("token")?;
    let client_id = fields.identifier("client_id")?;
    let client_secret = fields.secret("client_secret")?;
    let auth = match (token, client_id, client_secret) {
        (Some(token), None, None) => DatabricksAuth::Token(token),
        (None, Some(client_id), Some(client_secret)) => DatabricksAuth::ServicePrincipal {
            client_id,
            client_secret,
        },
        (None, None, None) => {
            return Err(FieldError::new(
                "credentials.token",
                "is required (or client_id and client_secret for OAuth)",
            ));
        }
        (None, Some(_), None) => return Err(FieldError::required("credentials.client_secret")),
        (None, None, Some(_)) => return Err(FieldError::required("credentials.client_id")),
        (Some(_), _, _) => {
            return Err(FieldError::new(
                "credentials",
                "give either token or client_id and client_secret, not both",
            ));
        }
    };
    let warehouse_id = fields
        .string("warehouse_id")?
        .map(|id| warehouse_id(&id))
        .transpose()?;
    Ok(DatabricksCredentials {
        workspace_url,
        auth,
        warehouse_id,
    })
}

/// A SQL warehouse id as Databricks shows it (`1234567890abcdef`): letters, digits, `-` and `_`.
fn warehouse_id(raw: &str) -> Result<String, FieldError> {
    let valid = (1..=MAX_ID_LEN).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "credentials.warehouse_id",
            "must be a SQL warehouse id (letters, digits, - and _)",
        ))
    }
}

fn emr(
    fields: &Fields<'_>,
    region: Option<&str>,
    policy: EndpointPolicy,
) -> Result<EmrCredentials, FieldError> {
    let region = match fields.string("region")? {
        Some(own) => aws_region("credentials.region", &own)?,
        None => aws_region(
            "credentials.region",
            region.ok_or_else(|| {
                FieldError::new(
                    "credentials.region",
                    "is required (or the top-level region)",
                )
            })?,
        )?,
    };
    let role_arn = fields.string("role_arn")?;
    let access_key_id = fields.identifier("access_key_id")?;
    let secret_access_key = fields.secret("secret_access_key")?;
    let auth = match (role_arn, access_key_id, secret_access_key) {
        (Some(role_arn), None, None) => AwsAuth::AssumeRole {
            role_arn: iam_role_arn(&role_arn)?,
            external_id: fields
                .string("external_id")?
                .map(|id| external_id(&id))
                .transpose()?,
        },
        (None, Some(access_key_id), Some(secret_access_key)) => {
            if !(16..=128).contains(&access_key_id.len())
                || !access_key_id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(FieldError::new(
                    "credentials.access_key_id",
                    "must be an AWS access key id (16-128 upper-case letters and digits)",
                ));
            }
            AwsAuth::AccessKeys {
                access_key_id,
                secret_access_key,
            }
        }
        (None, None, None) => {
            return Err(FieldError::new(
                "credentials.role_arn",
                "is required (or access_key_id and secret_access_key)",
            ));
        }
        (None, Some(_), None) => {
            return Err(FieldError::required("credentials.secret_access_key"));
        }
        (None, None, Some(_)) => return Err(FieldError::required("credentials.access_key_id")),
        (Some(_), _, _) => {
            return Err(FieldError::new(
                "credentials",
                "give either role_arn or access_key_id and secret_access_key, not both",
            ));
        }
    };
    let endpoint_url = match fields.string("endpoint_url")? {
        None => None,
        Some(_) if policy == EndpointPolicy::PublicHttps => {
            return Err(FieldError::new(
                "credentials.endpoint_url",
                "is only accepted in local mode",
            ));
        }
        Some(raw) => Some(endpoint_url("credentials.endpoint_url", &raw, policy)?),
    };
    Ok(EmrCredentials {
        region,
        auth,
        endpoint_url,
    })
}

fn dataproc(
    fields: &Fields<'_>,
    region: Option<&str>,
    policy: EndpointPolicy,
) -> Result<DataprocCredentials, FieldError> {
    let key_field = "credentials.service_account_key";
    let key = match fields.0.get("service_account_key") {
        None | Some(Value::Null) => return Err(FieldError::required(key_field)),
        Some(Value::Object(object)) => object.clone(),
        Some(Value::String(raw)) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(FieldError::new(
                    key_field,
                    "must be the service account's JSON key (an object, or that object as a string)",
                ));
            }
        },
        Some(_) => {
            return Err(FieldError::new(
                key_field,
                "must be the service account's JSON key (an object, or that object as a string)",
            ));
        }
    };
    let key_string = |name: &str| -> Result<String, FieldError> {
        let field = format!("{key_field}.{name}");
        match key.get(name) {
            Some(Value::String(value)) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
            Some(Value::String(_)) => Err(FieldError::new(field, "must not be empty")),
            None | Some(Value::Null) => Err(FieldError::required(&field)),
            Some(_) => Err(FieldError::new(field, "must be a string")),
        }
    };
    let client_email = key_string("client_email")?;
    if !client_email.contains('@') {
        return Err(FieldError::new(
            format!("{key_field}.client_email"),
            "must be the service account's email",
        ));
    }
    if !key_string("private_key")?.starts_with("-----BEGIN") {
        return Err(FieldError::new(
            format!("{key_field}.private_key"),
            "must be a PEM private key",
        ));
    }
    endpoint_url(
        &format!("{key_field}.token_uri"),
        &key_string("token_uri")?,
        policy,
    )?;
    let project_id = fields.required("project_id")?;
    if !is_gcp_project_id(&project_id) {
        return Err(FieldError::new(
            "credentials.project_id",
            "must be a GCP project id (6-30 lower-case letters, digits and hyphens, starting with a letter)",
        ));
    }
    let region = match fields.string("region")? {
        Some(own) => own,
        None => region.map(str::to_owned).ok_or_else(|| {
            FieldError::new(
                "credentials.region",
                "is required (or the top-level region)",
            )
        })?,
    };
    if !is_gcp_region(&region) {
        return Err(FieldError::new(
            "credentials.region",
            "must be a GCP region such as us-central1",
        ));
    }
    let endpoint_url = match fields.string("endpoint_url")? {
        None => None,
        Some(_) if policy == EndpointPolicy::PublicHttps => {
            return Err(FieldError::new(
                "credentials.endpoint_url",
                "is only accepted in local mode",
            ));
        }
        Some(raw) => Some(endpoint_url("credentials.endpoint_url", &raw, policy)?),
    };
    Ok(DataprocCredentials {
        project_id,
        region,
        service_account_key: SecretString::from(Value::Object(key).to_string()),
        endpoint_url,
    })
}

fn synapse(fields: &Fields<'_>, policy: EndpointPolicy) -> Result<SynapseCredentials, FieldError> {
    let guid = |name: &str| -> Result<String, FieldError> {
        let value = fields.required(name)?;
        if is_guid(&value) {
            Ok(value.to_ascii_lowercase())
        } else {
            Err(FieldError::new(
                format!("credentials.{name}"),
                "must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
            ))
        }
    };
    let tenant_id = guid("tenant_id")?;
    let client_id = guid("client_id")?;
    let client_secret = fields
        .secret("client_secret")?
        .ok_or_else(|| FieldError::required("credentials.client_secret"))?;
    let subscription_id = guid("subscription_id")?;
    let resource_group = fields.required("resource_group")?;
    let valid_group = resource_group.chars().count() <= 90
        && !resource_group.ends_with('.')
        && resource_group
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'));
    if !valid_group {
        return Err(FieldError::new(
            "credentials.resource_group",
            "must be an Azure resource group name (at most 90 letters, digits, - _ . ( ), not ending in .)",
        ));
    }
    let workspace_name = fields.required("workspace_name")?;
    let valid_workspace = workspace_name.len() <= 50
        && workspace_name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !workspace_name.starts_with('-')
        && !workspace_name.ends_with('-');
    if !valid_workspace {
        return Err(FieldError::new(
            "credentials.workspace_name",
            "must be a Synapse workspace name (at most 50 lower-case letters, digits and hyphens)",
        ));
    }
    let endpoint_url = local_endpoint(fields, policy)?;
    Ok(SynapseCredentials {
        tenant_id,
        client_id,
        client_secret,
        subscription_id,
        resource_group,
        workspace_name,
        endpoint_url,
    })
}

/// `endpoint_url` points a connector at a fake platform, so only local mode accepts it.
fn local_endpoint(
    fields: &Fields<'_>,
    policy: EndpointPolicy,
) -> Result<Option<String>, FieldError> {
    match fields.string("endpoint_url")? {
        None => Ok(None),
        Some(_) if policy == EndpointPolicy::PublicHttps => Err(FieldError::new(
            "credentials.endpoint_url",
            "is only accepted in local mode",
        )),
        Some(raw) => endpoint_url("credentials.endpoint_url", &raw, policy).map(Some),
    }
}

/// A platform's base URL, as `scheme://host[:port]` (no trailing slash).
pub fn endpoint_url(field: &str, raw: &str, policy: EndpointPolicy) -> Result<String, FieldError> {
    let rule = match policy {
        EndpointPolicy::PublicHttps => "must be an https URL",
        EndpointPolicy::AllowLocal => "must be an http or https URL",
    };
    let url = Url::parse(raw.trim()).map_err(|_| FieldError::new(field, rule))?;
    match (url.scheme(), policy) {
        ("https", _) | ("http", EndpointPolicy::AllowLocal) => {}
        _ => return Err(FieldError::new(field, rule)),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            "must not contain a user or password",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(FieldError::new(field, "must not have a query or fragment"));
    }
    let host = url.host().ok_or_else(|| FieldError::new(field, rule))?;
    if policy == EndpointPolicy::PublicHttps && !is_public_host(&host) {
        return Err(FieldError::new(
            field,
            "must be a public host (not localhost, a private, loopback or link-local address)",
        ));
    }
    // Keep the path for endpoints that carry one (a token URI); a bare origin has none.
    let path = url.path().trim_end_matches('/');
    Ok(format!("{}{path}", url.origin().ascii_serialization()))
}

/// Whether a URL's host may be called in AWS mode (a name is judged by its suffix only; see
/// [`is_public_ip`] for the addresses it resolves to).
pub fn is_public_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_public_ipv4(*ip),
        Host::Ipv6(ip) => is_public_ipv6(*ip),
        Host::Domain(domain) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            // A parsed domain is never an IP literal (url turns those into Host::Ip*), so a name
            // without a dot can only resolve through a local search domain.
            let local_suffix = [
                ".localhost",
                ".local",
                ".internal",
                ".localdomain",
                ".home.arpa",
            ]
            .iter()
            .any(|suffix| domain.ends_with(suffix));
            domain.contains('.') && domain != "localhost" && !local_suffix
        }
    }
}

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Carrier-grade NAT (100.64.0.0/10), benchmarking (198.18.0.0/15), reserved (240/4).
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
        || (a == 192 && b == 0 && ip.octets()[2] == 0))
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), documentation (2001:db8::/32).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Whether an address may be called in AWS mode; for checks after name resolution.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_ipv4(v4),
        IpAddr::V6(v6) => is_public_ipv6(v6),
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-4`.
fn aws_region(field: &str, raw: &str) -> Result<String, FieldError> {
    let value = raw.trim();
    let parts: Vec<&str> = value.split('-').collect();
    let valid = parts.len() >= 3
        && parts.len() <= 4
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if valid {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            "must be an AWS region such as us-east-1",
        ))
    }
}

fn iam_role_arn(raw: &str) -> Result<String, FieldError> {
    let invalid = || {
        FieldError::new(
            "credentials.role_arn",
            "must be an IAM role ARN (arn:aws:iam::123456789012:role/name)",
        )
    };
    let parts: Vec<&str> = raw.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else {
        return Err(invalid());
    };
    let valid = arn == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource.len() > "role/".len()
        && resource.starts_with("role/")
        && !resource.chars().any(char::is_whitespace);
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(invalid())
    }
}

fn external_id(raw: &str) -> Result<String, FieldError> {
    let valid = (2..=1224).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(FieldError::new(
            "credentials.external_id",
            "must be 2-1224 characters of letters, digits and +=,.@:/-_",
        ))
    }
}

fn is_gcp_project_id(value: &str) -> bool {
    (6..=30).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_gcp_region(value: &str) -> bool {
    let Some((area, place)) = value.split_once('-') else {
        return false;
    };
    let letters = place.trim_end_matches(|c: char| c.is_ascii_digit());
    !area.is_empty()
        && area.chars().all(|c| c.is_ascii_lowercase())
        && !letters.is_empty()
        && letters.chars().all(|c| c.is_ascii_lowercase())
        && letters.len() < place.len()
}

fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: EndpointPolicy = EndpointPolicy::PublicHttps;
    const LOCAL: EndpointPolicy = EndpointPolicy::AllowLocal;

    fn err(kind: PlatformKind, credentials: Value, policy: EndpointPolicy) -> String {
        parse(kind, Some(&credentials), None, policy)
            .expect_err("should be rejected")
            .to_string()
    }

    #[test]
    fn databricks_with_a_token_is_read_and_normalized() {
        let parsed = parse(
            PlatformKind::Databricks,
            Some(&json!({"workspace_url": "https://dbc-abc123.cloud.databricks.com/", "token": "dapi_xyz"})),
            None,
            STRICT,
        )
        .unwrap();
        let Credentials::Databricks(c) = parsed else {
            panic!("databricks")
        };
        assert_eq!(c.workspace_url, "https://dbc-abc123.cloud.databricks.com");
        assert!(matches!(c.auth, DatabricksAuth::Token(_)));
    }

    #[test]
    fn databricks_rules_name_their_field() {
        let d = PlatformKind::Databricks;
        assert_eq!(
            err(
                d,
                json!({"workspace_url": "http://dbc.cloud.databricks.com", "token": "t"}),
                STRICT
            ),
            "credentials.workspace_url: must be an https URL"
        );
        assert_eq!(
            err(d, json!({"token": "t"}), STRICT),
            "credentials.workspace_url: is required"
        );
        assert!(
            err(
                d,
                json!({"workspace_url": "https://a.databricks.com"}),
                STRICT
            )
            .starts_with("credentials.token: is required")
        );
        assert_eq!(
            err(
                d,
                json!({"workspace_url": "https://a.databricks.com", "client_id": "c"}),
                STRICT
            ),
            "credentials.client_secret: is required"
        );
        assert!(
            err(d, json!({"workspace_url": "https://a.databricks.com", "token": "t", "client_id": "c", "client_secret": "s"}), STRICT)
                .starts_with("credentials: give either")
        );
        assert_eq!(
            err(
                d,
                json!({"workspace_url": "https://a.databricks.com", "token": 5}),
                STRICT
            ),
            "credentials.token: must be a string"
        );
        assert_eq!(
            parse(d, Some(&json!("x")), None, STRICT)
                .unwrap_err()
                .to_string(),
            "credentials: must be an object"
        );
        assert_eq!(
            parse(d, None, None, STRICT).unwrap_err().to_string(),
            "credentials: is required"
        );
    }

    #[test]
    fn databricks_takes_an_optional_warehouse_id() {
        let d = PlatformKind::Databricks;
        let Ok(Credentials::Databricks(without)) = parse(
            d,
            Some(&json!({"workspace_url": "https://a.databricks.com", "token": "t"})),
            None,
            STRICT,
        ) else {
            panic!("databricks without a warehouse");
        };
        assert_eq!(without.warehouse_id, None);
        let Ok(Credentials::Databricks(with)) = parse(
            d,
            Some(
                &json!({"workspace_url": "https://a.databricks.com", "token": "t", "warehouse_id": " 1234567890abcdef "}),
            ),
            None,
            STRICT,
        ) else {
            panic!("databricks with a warehouse");
        };
        assert_eq!(with.warehouse_id.as_deref(), Some("1234567890abcdef"));
        for bad in [json!("a b"), json!("x';--"), json!(""), json!(42)] {
            let message = err(
                d,
                json!({"workspace_url": "https://a.databricks.com", "token": "t", "warehouse_id": bad}),
                STRICT,
            );
            assert!(
                message.starts_with("credentials.warehouse_id:"),
                "{message}"
            );
        }
        let stored = from_secret(&to_secret(&Credentials::Databricks(with))).unwrap();
        let Credentials::Databricks(stored) = stored else {
            panic!("databricks");
        };
        assert_eq!(stored.warehouse_id.as_deref(), Some("1234567890abcdef"));
    }

    #[test]
    fn public_https_rejects_local_and_private_hosts() {
        for url in [
            "https://localhost",
            "https://api.localhost",
            "https://127.0.0.1",
            "https://2130706433",
            "https://10.1.2.3",
            "https://192.168.0.1",
            "https://172.16.5.5",
            "https://169.254.169.254",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://[::1]",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://[::ffff:127.0.0.1]",
            "https://metadata.google.internal",
            "https://intranet",
        ] {
            assert!(
                endpoint_url("f", url, STRICT).is_err(),
                "{url} should be rejected"
            );
        }
        assert!(endpoint_url("f", "https://8.8.8.8", STRICT).is_ok());
        assert!(endpoint_url("f", "https://user:pw@a.databricks.com", STRICT).is_err());
        assert!(endpoint_url("f", "https://a.databricks.com?x=1", STRICT).is_err());
        assert!(endpoint_url("f", "ftp://a.databricks.com", LOCAL).is_err());
    }

    #[test]
    fn local_mode_allows_http_and_loopback() {
        assert_eq!(
            endpoint_url("f", "http://127.0.0.1:4321/", LOCAL).unwrap(),
            "http://127.0.0.1:4321"
        );
        assert!(endpoint_url("f", "https://localhost:8443", LOCAL).is_ok());
    }

    #[test]
    fn emr_takes_the_top_level_region_and_checks_the_auth() {
        let parsed = parse(
            PlatformKind::Emr,
            Some(&json!({"role_arn": "arn:aws:iam::123456789012:role/dtap", "external_id": "abc-123"})),
            Some("eu-west-1"),
            STRICT,
        )
        .unwrap();
        assert_eq!(parsed.region(), Some("eu-west-1"));
        let e = PlatformKind::Emr;
        assert!(
            err(
                e,
                json!({"role_arn": "arn:aws:iam::123456789012:role/dtap"}),
                STRICT
            )
            .starts_with("credentials.region: is required")
        );
        assert!(
            err(
                e,
                json!({"region": "us-east-1", "role_arn": "arn:aws:s3:::bucket"}),
                STRICT
            )
            .starts_with("credentials.role_arn: must be an IAM role ARN")
        );
        assert!(
            err(
                e,
                json!({"region": "useast1", "role_arn": "arn:aws:iam::123456789012:role/x"}),
                STRICT
            )
            .starts_with("credentials.region: must be an AWS region")
        );
        assert_eq!(
            err(
                e,
                json!({"region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}),
                STRICT
            ),
            "credentials.secret_access_key: is required"
        );
        assert_eq!(
            err(
                e,
                json!({"region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "s", "endpoint_url": "http://127.0.0.1:5000"}),
                STRICT
            ),
            "credentials.endpoint_url: is only accepted in local mode"
        );
        assert!(
            parse(e, Some(&json!({"region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "s", "endpoint_url": "http://127.0.0.1:5000"})), None, LOCAL).is_ok()
        );
    }

    fn service_account_key() -> Value {
        json!({
            "type": "service_account",
            "client_email": "dtap@my-project.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
    }

    #[test]
    fn dataproc_accepts_the_key_as_object_or_string() {
        for key in [
            service_account_key(),
            service_account_key().to_string().into(),
        ] {
            let parsed = parse(
                PlatformKind::Dataproc,
                Some(&json!({"service_account_key": key, "project_id": "my-project", "region": "us-central1"})),
                None,
                STRICT,
            )
            .unwrap();
            assert_eq!(parsed.region(), Some("us-central1"));
        }
        let mut key = service_account_key();
        key["token_uri"] = "http://169.254.169.254/token".into();
        assert_eq!(
            err(
                PlatformKind::Dataproc,
                json!({"service_account_key": key, "project_id": "my-project", "region": "us-central1"}),
                STRICT
            ),
            "credentials.service_account_key.token_uri: must be an https URL"
        );
        let mut key = service_account_key();
        key.as_object_mut().unwrap().remove("client_email");
        assert_eq!(
            err(
                PlatformKind::Dataproc,
                json!({"service_account_key": key, "project_id": "my-project", "region": "us-central1"}),
                STRICT
            ),
            "credentials.service_account_key.client_email: is required"
        );
        assert!(
            err(PlatformKind::Dataproc, json!({"service_account_key": service_account_key(), "project_id": "X", "region": "us-central1"}), STRICT)
                .starts_with("credentials.project_id:")
        );
    }

    fn synapse_credentials() -> Value {
        json!({
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": "0f0e0d0c-0b0a-0908-0706-050403020100",
            "client_secret": "s3cr3t",
            "subscription_id": "11111111-2222-3333-4444-555555555555",
            "resource_group": "analytics-rg",
            "workspace_name": "acme-synapse",
        })
    }

    #[test]
    fn synapse_checks_each_field() {
        assert!(
            parse(
                PlatformKind::Synapse,
                Some(&synapse_credentials()),
                None,
                STRICT
            )
            .is_ok()
        );
        let mut bad = synapse_credentials();
        bad["tenant_id"] = "not-a-guid".into();
        assert!(
            err(PlatformKind::Synapse, bad, STRICT)
                .starts_with("credentials.tenant_id: must be a GUID")
        );
        let mut bad = synapse_credentials();
        bad.as_object_mut().unwrap().remove("workspace_name");
        assert_eq!(
            err(PlatformKind::Synapse, bad, STRICT),
            "credentials.workspace_name: is required"
        );
    }

    #[test]
    fn synapse_takes_an_endpoint_url_in_local_mode_only() {
        let mut local = synapse_credentials();
        local["endpoint_url"] = "http://127.0.0.1:4321".into();
        assert_eq!(
            err(PlatformKind::Synapse, local.clone(), STRICT),
            "credentials.endpoint_url: is only accepted in local mode"
        );
        let Ok(Credentials::Synapse(parsed)) =
            parse(PlatformKind::Synapse, Some(&local), None, LOCAL)
        else {
            panic!("local mode accepts the fake's endpoint");
        };
        assert_eq!(
            parsed.endpoint_url.as_deref(),
            Some("http://127.0.0.1:4321")
        );
        let stored = from_secret(&to_secret(&Credentials::Synapse(parsed))).unwrap();
        assert_eq!(stored.endpoint_field(), "credentials.endpoint_url");
    }

    #[test]
    fn every_kind_survives_the_secret_round_trip() {
        let cases = [
            (
                PlatformKind::Databricks,
                json!({"workspace_url": "https://a.databricks.com", "client_id": "c", "client_secret": "s"}),
            ),
            (
                PlatformKind::Databricks,
                json!({"workspace_url": "https://a.databricks.com", "token": "t", "warehouse_id": "abc123"}),
            ),
            (
                PlatformKind::Emr,
                json!({"region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:role/dtap", "external_id": "ext-1"}),
            ),
            (
                PlatformKind::Emr,
                json!({"region": "us-east-1", "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalr/K7MDENG"}),
            ),
            (
                PlatformKind::Dataproc,
                json!({"service_account_key": service_account_key(), "project_id": "my-project", "region": "us-central1"}),
            ),
            (PlatformKind::Synapse, synapse_credentials()),
        ];
        for (kind, raw) in cases {
            let parsed = parse(kind, Some(&raw), None, STRICT).unwrap();
            let secret = to_secret(&parsed);
            let back = from_secret(&secret).unwrap();
            assert_eq!(back.kind(), kind);
            assert_eq!(to_secret(&back).expose_secret(), secret.expose_secret());
        }
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let parsed = parse(
            PlatformKind::Databricks,
            Some(
                &json!({"workspace_url": "https://a.databricks.com", "token": "dapi_very_secret"}),
            ),
            None,
            STRICT,
        )
        .unwrap();
        assert!(!format!("{parsed:?}").contains("dapi_very_secret"));
    }
}
