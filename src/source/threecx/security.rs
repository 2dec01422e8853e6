//! How a 3CX V20 system is secured, read through XAPI for readiness: eleven read-only
//! calls at once with one token, each with `$select` (and `$top`) so that a PBX of
//! thousands of users costs one request per endpoint. Only what the items judge is asked
//! for: extension numbers and tags of users (never names or e-mail addresses), when the
//! PBX's own blocks end (never the addresses).

use super::ThreeCx;
use crate::facts::pbx::{Fetched, SecurityFacts, Unreadable};

/// The most users, blocked addresses, clients and tokens read in one request.
const TOP: u32 = 5000;

#[derive(serde::Deserialize)]
struct Flag {
    value: bool,
}

impl ThreeCx {
    pub(super) async fn read_security(&self, http: &reqwest::Client) -> SecurityFacts {
        let users = format!("/xapi/v1/Users?$select=Number,Tags&$top={TOP}&$count=true");
        let blocked = format!(
            "/xapi/v1/Blocklist?$filter=AddedBy eq 'AutoBlacklist'&$select=ExpiresAt&$top={TOP}&$count=true"
        );
        let clients = format!("/xapi/v1/OAuthClients?$select=ClientId,CreatedAt,UsedAt&$top={TOP}");
        let tokens = format!("/xapi/v1/SecurityTokens?$select=ClientId,Expires,Revoked&$top={TOP}");
        let (
            anti_hacking,
            auto_blocked,
            users,
            console,
            firewall_result,
            os_upgrade,
            updates,
            notifications,
            syslog,
            oauth_clients,
            tokens,
        ) = futures::join!(
            self.read(http, "/xapi/v1/AntiHackingSettings"),
            self.read(http, &blocked),
            self.read(http, &users),
            self.read(http, "/xapi/v1/ConsoleRestrictions"),
            self.flag(http, "/xapi/v1/Firewall/Pbx.GetLastResult()"),
            self.flag(http, "/xapi/v1/HasDebianUpgrade()"),
            self.read(http, "/xapi/v1/GetUpdatesStats()"),
            self.read(http, "/xapi/v1/NotificationSettings"),
            self.read(http, "/xapi/v1/SyslogSettings"),
            self.read_list(http, &clients),
            self.read_list(http, &tokens),
        );
        SecurityFacts {
            anti_hacking,
            auto_blocked,
            users,
            console,
            firewall_result,
            os_upgrade,
            updates,
            notifications,
            syslog,
            oauth_clients,
            tokens,
        }
    }

    /// An OData function's `{"value": true|false}`.
    async fn flag(&self, http: &reqwest::Client, path: &str) -> Fetched<bool> {
        let v: serde_json::Value = self.read(http, path).await?;
        serde_json::from_value::<Flag>(v)
            .map(|f| f.value)
            .map_err(|e| Unreadable {
                forbidden: false,
                why: format!("unexpected answer from {path}: {e}"),
            })
    }
}
