//! What a 3CX V20 system tells about its own readiness, read through XAPI (`/xapi/v1`), as
//! plain data: the JSON of each endpoint with the fields the readiness items judge. Every
//! field 3CX marks nullable is an `Option`; unknown fields are ignored. Each endpoint's
//! answer is a [`Fetched`]: the facts, or why they could not be read (a 403 means the API
//! client's role may not read it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an endpoint's facts are missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// 3CX answered 403: the API client's role may not read this.
    pub forbidden: bool,
    pub why: String,
}

pub type Fetched<T> = Result<T, Unreadable>;

/// The facts of one 3CX V20 system, one field per endpoint.
#[derive(Debug, Clone)]
pub struct PbxFacts {
    /// `GET SystemStatus`
    pub system: Fetched<SystemStatus>,
    /// `GET SystemStatus/Pbx.SystemHealthStatus()`
    pub health: Fetched<SystemHealth>,
    /// `GET Trunks?$expand=Gateway`
    pub trunks: Fetched<Vec<Trunk>>,
    /// `GET OutboundRules`
    pub outbound_rules: Fetched<Vec<OutboundRule>>,
    /// `GET WebsiteLinks`
    pub website_links: Fetched<Vec<WebsiteLink>>,
    /// `GET Backups/Pbx.GetBackupSettings()`
    pub backup_settings: Fetched<BackupSettings>,
    /// `GET Backups/Pbx.GetBackupRepositorySettings()`
    pub backup_repository: Fetched<BackupRepository>,
    /// `GET Backups/Pbx.GetBackupFailoverSettings()`
    pub failover: Fetched<Failover>,
    /// Step 1 of the advice: how the PBX is secured.
    pub security: SecurityFacts,
}

/// What 3CX tells about how it is secured (read-only, each endpoint on its own).
#[derive(Debug, Clone)]
pub struct SecurityFacts {
    /// `GET AntiHackingSettings`
    pub anti_hacking: Fetched<AntiHacking>,
    /// `GET Blocklist?$filter=AddedBy eq 'AutoBlacklist'&$select=ExpiresAt&$count=true`:
    /// when each address the PBX blocked itself is let go (never the address).
    pub auto_blocked: Fetched<Counted<Blocked>>,
    /// `GET Users?$select=Number,Tags&$count=true`: extension numbers and 3CX's tags.
    pub users: Fetched<Counted<UserTags>>,
    /// `GET ConsoleRestrictions`
    pub console: Fetched<ConsoleRestrictions>,
    /// `GET Firewall/Pbx.GetLastResult()`: whether the Firewall Checker's last run passed.
    pub firewall_result: Fetched<bool>,
    /// `GET HasDebianUpgrade()`
    pub os_upgrade: Fetched<bool>,
    /// `GET GetUpdatesStats()`
    pub updates: Fetched<UpdatesStats>,
    /// `GET NotificationSettings`
    pub notifications: Fetched<NotificationSettings>,
    /// `GET SyslogSettings`
    pub syslog: Fetched<SyslogSettings>,
    /// `GET OAuthClients?$select=ClientId,CreatedAt,UsedAt`
    pub oauth_clients: Fetched<Vec<OAuthClient>>,
    /// `GET SecurityTokens?$select=ClientId,Expires,Revoked`
    pub tokens: Fetched<Vec<SecurityToken>>,
}

impl SecurityFacts {
    /// Every endpoint unread, for the same reason (the PBX could not be reached).
    pub fn unreadable(u: &Unreadable) -> SecurityFacts {
        SecurityFacts {
            anti_hacking: Err(u.clone()),
            auto_blocked: Err(u.clone()),
            users: Err(u.clone()),
            console: Err(u.clone()),
            firewall_result: Err(u.clone()),
            os_upgrade: Err(u.clone()),
            updates: Err(u.clone()),
            notifications: Err(u.clone()),
            syslog: Err(u.clone()),
            oauth_clients: Err(u.clone()),
            tokens: Err(u.clone()),
        }
    }
}

/// A collection with the count 3CX reports (`@odata.count`), which may exceed what was
/// read (`$top`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Counted<T> {
    #[serde(rename = "@odata.count")]
    pub count: Option<u64>,
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct AntiHacking {
    pub security_defense_program: Option<bool>,
    pub hack_auth_requests: Option<i64>,
    pub hack_challenge_requests: Option<i64>,
    pub hack_blacklist_duration: Option<i64>,
    pub max_request_per_period: Option<i64>,
    pub throttle_period_length: Option<i64>,
    pub hack_barrier_green: Option<i64>,
    pub hack_barrier_amber: Option<i64>,
    pub hack_barrier_red: Option<i64>,
}

/// An address the PBX blocked itself: only when the block ends is read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Blocked {
    #[serde(deserialize_with = "lenient_time")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A user's extension number and 3CX's tags (`WeakPass`, `WeakID`, …): nothing else.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct UserTags {
    pub number: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConsoleRestrictions {
    pub access_restricted: Option<bool>,
    pub ip_whitelist: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdatesStats {
    pub tcx_update: Vec<CategoryUpdate>,
    pub per_page: Vec<CategoryUpdate>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct CategoryUpdate {
    pub category: Option<String>,
    pub count: Option<i64>,
}

/// Who hears the PBX's own alerts. The addresses are read to be counted, never shown.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct NotificationSettings {
    pub email_addresses: Option<String>,
    pub notify_system_owners: Option<bool>,
    pub notify_service_stopped: Option<bool>,
    pub notify_updates_available: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SyslogSettings {
    /// `None` or `Custom`.
    pub integration_type: Option<String>,
    pub custom_relay_config: Option<SyslogRelay>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SyslogRelay {
    pub host: Option<String>,
    pub port: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct OAuthClient {
    pub client_id: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SecurityToken {
    pub client_id: Option<String>,
    #[serde(deserialize_with = "lenient_time")]
    pub expires: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    pub revoked: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemStatus {
    pub version: Option<String>,
    #[serde(rename = "FQDN")]
    pub fqdn: Option<String>,
    pub auto_update_enabled: Option<bool>,
    pub last_successful_update: Option<DateTime<Utc>>,
    pub last_check_for_updates: Option<DateTime<Utc>>,
    pub has_not_running_services: Option<bool>,
    pub license_active: Option<bool>,
    pub maintenance_expires_at: Option<DateTime<Utc>>,
    pub free_disk_space: Option<u64>,
    pub total_disk_space: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemHealth {
    pub firewall: Option<bool>,
    pub phones: Option<bool>,
    pub trunks: Option<bool>,
    pub unsupported_firmwares_count: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Trunk {
    pub id: Option<i64>,
    pub number: Option<String>,
    pub is_online: Option<bool>,
    pub gateway: Option<Gateway>,
    pub messaging: Option<TrunkMessaging>,
}

impl Trunk {
    /// "Vodafone (sip.vodafone.es)" or the trunk's number.
    pub fn label(&self) -> String {
        let g = self.gateway.as_ref();
        match (
            g.and_then(|g| g.name.as_deref()),
            g.and_then(|g| g.host.as_deref()),
        ) {
            (Some(n), Some(h)) => format!("{n} ({h})"),
            (Some(n), None) => n.to_string(),
            (None, Some(h)) => h.to_string(),
            (None, None) => format!(
                "trunk {}",
                self.number
                    .clone()
                    .or(self.id.map(|i| i.to_string()))
                    .unwrap_or_else(|| "?".into())
            ),
        }
    }

    /// The provider, as the SIP host it registers to (lower case).
    pub fn provider(&self) -> Option<String> {
        self.gateway
            .as_ref()
            .and_then(|g| g.host.as_deref())
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Gateway {
    pub name: Option<String>,
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TrunkMessaging {
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct OutboundRule {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub emergency_rule: Option<bool>,
    pub routes: Vec<OutboundRoute>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct OutboundRoute {
    pub trunk_id: Option<i64>,
    pub trunk_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct WebsiteLink {
    pub link: Option<String>,
    pub name: Option<String>,
    pub chat_enabled: Option<bool>,
    pub calls_enabled: Option<bool>,
    pub meeting_enabled: Option<bool>,
    pub hidden: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupSettings {
    pub schedule_enabled: Option<bool>,
    pub contents: Option<BackupContents>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupContents {
    pub encrypt_backup: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupRepository {
    pub location: Option<BackupLocation>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BackupLocation {
    /// Local, Ftp, GoogleDrive, NetworkShare, Sftp, GoogleBucket, SharePoint, AmazonS3.
    pub file_system_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Failover {
    pub enabled: Option<bool>,
    pub remote_server: Option<String>,
    pub mode: Option<String>,
}

/// A time as 3CX writes it (RFC 3339), or none for null, an empty string or anything else:
/// one odd date leaves that fact out, never the whole answer.
fn lenient_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let v: Option<serde_json::Value> = Option::deserialize(d)?;
    Ok(v.as_ref()
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc()))
}
