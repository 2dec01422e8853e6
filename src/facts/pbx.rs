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
