//! One call that configures a started OpenBao for sidekey's tests: KV v2 and v1 secrets, policies,
//! JWT and AppRole auth, the database engine against a private PostgreSQL, and PKI.
//!
//! KV and the policies are always set up; everything else is opt-in so a test that needs only KV does
//! not start PostgreSQL:
//!
//! ```no_run
//! use sidekey_tests::Setup;
//! let fx = Setup::new().jwt().database().start();
//! let jwt = fx.app_jwt();
//! ```

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::background::{Background, Builder};
use crate::bao::{Api, Bao, DevOptions};
use crate::cluster::{Cluster, ClusterFixture};
use crate::jwt::{APP_SUBJECT, AUDIENCE, ISSUER, JwtIssuer, MintedJwt};
use crate::postgres::{Postgres, SUPERUSER};

/// Username stored in `secret/app/config` (KV v2).
pub const KV_USERNAME: &str = "app";
/// Subject bound to the JWT role `denied` (policy `denied`).
pub const DENIED_SUBJECT: &str = "system:serviceaccount:default:denied";
/// Domain the PKI role `app` issues for (and its subdomains).
pub const PKI_DOMAIN: &str = "example.test";

/// Policy `app`: what a well-behaved workload may read.
pub const APP_POLICY: &str = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "secret/metadata/app/*" { capabilities = ["read", "list"] }
path "kv/*" { capabilities = ["read", "list"] }
path "database/creds/app" { capabilities = ["read"] }
path "pki/issue/app" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/lookup" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"#;

/// Policy `denied`: like `app` but `secret/data/app/config` is explicitly denied.
pub const DENIED_POLICY: &str = r#"
path "secret/data/app/config" { capabilities = ["deny"] }
path "secret/data/app/*" { capabilities = ["read"] }
path "kv/*" { capabilities = ["read", "list"] }
path "database/creds/app" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
"#;

/// A workload's least-privilege policy: read `kv` (a KV v2 data path, `*` allowed) and `db`
/// (`database/creds/<role>`), and keep its own token and leases alive.
pub fn own_policy(kv: &str, db: &str) -> String {
    format!(
        r#"
path "{kv}" {{ capabilities = ["read"] }}
path "{db}" {{ capabilities = ["read"] }}
path "auth/token/renew-self" {{ capabilities = ["update"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
path "auth/token/revoke-self" {{ capabilities = ["update"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "sys/leases/lookup" {{ capabilities = ["update"] }}
path "sys/leases/revoke" {{ capabilities = ["update"] }}
"#
    )
}

/// What to configure, and the TTLs to use. Build with [`Setup::new`], finish with [`Setup::start`].
#[derive(Debug, Clone)]
pub struct Setup {
    audit: bool,
    plain_accessor: bool,
    jwt: bool,
    approle: bool,
    database: bool,
    pki: bool,
    /// More JWT roles beside `app` and `denied`: (role, bound subject, policy).
    jwt_roles: Vec<(String, String, String)>,
    /// More database roles beside `app`, made like it.
    db_roles: Vec<String>,
    token_ttl: Duration,
    token_max_ttl: Duration,
    db_default_ttl: Duration,
    db_max_ttl: Duration,
    pki_max_ttl: Duration,
}

/// AppRole credentials for role `app`, also written to files (mode 0600).
#[derive(Debug, Clone)]
pub struct AppRoleCreds {
    /// The role_id.
    pub role_id: String,
    /// A fresh secret_id.
    pub secret_id: String,
    /// File holding the role_id.
    pub role_id_path: PathBuf,
    /// File holding the secret_id.
    pub secret_id_path: PathBuf,
}

/// A configured OpenBao (and PostgreSQL, if asked for). Fields drop in order: OpenBao first.
#[derive(Debug)]
pub struct Fixture {
    /// The server.
    pub bao: Bao,
    /// The database behind `database/`, if [`Setup::database`] was asked for.
    pub postgres: Option<Postgres>,
    /// The value of `secret/app/config` `password`: must never appear in logs or audit events.
    pub sentinel: String,
    /// JWT minting, if [`Setup::jwt`] was asked for.
    pub jwt: Option<JwtIssuer>,
    /// AppRole credentials, if [`Setup::approle`] was asked for.
    pub approle: Option<AppRoleCreds>,
    /// Scratch directory for token files, configs and keys (not tmpfs: inputs, not outputs).
    pub dir: TempDir,
}

/// What [`Setup::configure`] made, whatever the server: the parts of [`Fixture`] and [`ClusterFixture`]
/// besides the server.
struct Configured {
    postgres: Option<Postgres>,
    sentinel: String,
    jwt: Option<JwtIssuer>,
    approle: Option<AppRoleCreds>,
    dir: TempDir,
}

fn ttl(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn write_private(path: &Path, contents: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

impl Default for Setup {
    fn default() -> Self {
        Setup::new()
    }
}

impl Setup {
    /// KV and policies only; token TTL 1 h (max 2 h), DB TTL 1 h (max 2 h), PKI max TTL 1 h.
    pub fn new() -> Setup {
        Setup {
            audit: false,
            plain_accessor: false,
            jwt: false,
            approle: false,
            database: false,
            pki: false,
            jwt_roles: Vec::new(),
            db_roles: Vec::new(),
            token_ttl: Duration::from_secs(3600),
            token_max_ttl: Duration::from_secs(7200),
            db_default_ttl: Duration::from_secs(3600),
            db_max_ttl: Duration::from_secs(7200),
            pki_max_ttl: Duration::from_secs(3600),
        }
    }

    /// Everything: audit device, JWT, AppRole, database (starts PostgreSQL), PKI.
    pub fn all() -> Setup {
        Setup::new().audit().jwt().approle().database().pki()
    }

    /// Start OpenBao with a file audit device (see [`Bao::audit_log_lines`]).
    pub fn audit(mut self) -> Setup {
        self.audit = true;
        self
    }

    /// Start OpenBao with a file audit device that writes token accessors in plain
    /// (`hmac_accessor = "false"`); implies [`Setup::audit`].
    pub fn audit_plain_accessor(mut self) -> Setup {
        self.audit = true;
        self.plain_accessor = true;
        self
    }

    /// JWT auth at `auth/jwt` with roles `app` and `denied`.
    pub fn jwt(mut self) -> Setup {
        self.jwt = true;
        self
    }

    /// One more JWT role (implies [`Setup::jwt`]): `role`, accepting JWTs for `subject` (mint them with
    /// [`Fixture::mint_jwt`] and [`crate::jwt::AUDIENCE`]), its tokens with policy `policy`.
    pub fn jwt_role(mut self, role: &str, subject: &str, policy: &str) -> Setup {
        self.jwt = true;
        self.jwt_roles
            .push((role.to_owned(), subject.to_owned(), policy.to_owned()));
        self
    }

    /// AppRole auth at `auth/approle` with role `app`.
    pub fn approle(mut self) -> Setup {
        self.approle = true;
        self
    }

    /// Database engine at `database/` against a fresh PostgreSQL, role `app`.
    pub fn database(mut self) -> Setup {
        self.database = true;
        self
    }

    /// More database roles (implies [`Setup::database`]), each made like `app` (same statements and
    /// TTLs): `database/creds/<role>` for each of `roles`.
    pub fn database_roles(mut self, roles: &[String]) -> Setup {
        self.database = true;
        self.db_roles.extend(roles.iter().cloned());
        self
    }

    /// PKI at `pki/` with a root CA and role `app`.
    pub fn pki(mut self) -> Setup {
        self.pki = true;
        self
    }

    /// `token_ttl` and `token_max_ttl` of the JWT and AppRole roles.
    pub fn token_ttls(mut self, ttl: Duration, max_ttl: Duration) -> Setup {
        self.token_ttl = ttl;
        self.token_max_ttl = max_ttl;
        self
    }

    /// `default_ttl` and `max_ttl` of the database role `app`.
    pub fn db_ttls(mut self, default_ttl: Duration, max_ttl: Duration) -> Setup {
        self.db_default_ttl = default_ttl;
        self.db_max_ttl = max_ttl;
        self
    }

    /// `max_ttl` of the PKI role `app`.
    pub fn pki_max_ttl(mut self, max_ttl: Duration) -> Setup {
        self.pki_max_ttl = max_ttl;
        self
    }

    /// Start the servers and configure them.
    pub fn start(self) -> Fixture {
        // PostgreSQL's initdb is the slow part: run it while OpenBao starts.
        let pg = self.database.then(|| std::thread::spawn(Postgres::start));
        let bao = Bao::start_with(&DevOptions {
            audit: self.audit,
            plain_accessor: self.plain_accessor,
            extra_config: None,
        });
        let Configured {
            postgres,
            sentinel,
            jwt,
            approle,
            dir,
        } = self.configure(&bao, pg);
        Fixture {
            bao,
            postgres,
            sentinel,
            jwt,
            approle,
            dir,
        }
    }

    /// Start a `nodes`-node Raft cluster (see [`Cluster`]) instead of a dev server, mount KV v2 at
    /// `secret/` as `-dev` does, and configure it the same way.
    pub fn start_cluster(self, nodes: usize) -> ClusterFixture {
        let pg = self.database.then(|| std::thread::spawn(Postgres::start));
        let cluster = if self.audit {
            Cluster::start_with_audit(nodes)
        } else {
            Cluster::start(nodes)
        };
        cluster.enable_kv2("secret");
        let Configured {
            postgres,
            sentinel,
            jwt,
            approle,
            dir,
        } = self.configure(&cluster, pg);
        ClusterFixture {
            cluster,
            postgres,
            sentinel,
            jwt,
            approle,
            dir,
        }
    }

    /// Write the policies and secrets, set up what was asked for, and wait for PostgreSQL (`pg`).
    fn configure(&self, bao: &impl Api, pg: Option<JoinHandle<Postgres>>) -> Configured {
        let dir = tempfile::Builder::new()
            .prefix("sidekey-fixture-")
            .tempdir()
            .expect("create the fixture temp dir");
        let sentinel = format!("sentinel-{}", crate::random_hex(12));

        bao.write("sys/policies/acl/app", json!({ "policy": APP_POLICY }));
        bao.write(
            "sys/policies/acl/denied",
            json!({ "policy": DENIED_POLICY }),
        );
        bao.write(
            "secret/data/app/config",
            json!({ "data": { "username": KV_USERNAME, "password": sentinel } }),
        );
        bao.write(
            "sys/mounts/kv",
            json!({ "type": "kv", "options": { "version": "1" } }),
        );
        bao.write(
            "kv/app",
            json!({ "api_key": "kv1-api-key", "region": "test-1" }),
        );

        let jwt = self.jwt.then(|| self.setup_jwt(bao, dir.path()));
        let approle = self.approle.then(|| self.setup_approle(bao, dir.path()));
        if self.pki {
            self.setup_pki(bao);
        }
        let postgres = pg.map(|h| match h.join() {
            Ok(pg) => pg,
            Err(e) => std::panic::resume_unwind(e),
        });
        if let Some(pg) = &postgres {
            self.setup_database(bao, pg);
        }
        Configured {
            postgres,
            sentinel,
            jwt,
            approle,
            dir,
        }
    }

    fn role_ttls(&self) -> Value {
        json!({ "token_ttl": ttl(self.token_ttl), "token_max_ttl": ttl(self.token_max_ttl) })
    }

    fn setup_jwt(&self, bao: &impl Api, dir: &Path) -> JwtIssuer {
        let issuer = JwtIssuer::new(dir);
        bao.write("sys/auth/jwt", json!({ "type": "jwt" }));
        bao.write(
            "auth/jwt/config",
            json!({ "jwt_validation_pubkeys": [issuer.public_key_pem()], "bound_issuer": ISSUER }),
        );
        let fixed = [
            ("app", APP_SUBJECT, "app"),
            ("denied", DENIED_SUBJECT, "denied"),
        ];
        let more = self
            .jwt_roles
            .iter()
            .map(|(r, s, p)| (r.as_str(), s.as_str(), p.as_str()));
        for (role, subject, policy) in fixed.into_iter().chain(more) {
            let mut body = json!({
                "role_type": "jwt",
                "bound_audiences": [AUDIENCE],
                "bound_subject": subject,
                "user_claim": "sub",
                "token_policies": [policy],
            });
            merge(&mut body, self.role_ttls());
            bao.write(&format!("auth/jwt/role/{role}"), body);
        }
        issuer
    }

    fn setup_approle(&self, bao: &impl Api, dir: &Path) -> AppRoleCreds {
        bao.write("sys/auth/approle", json!({ "type": "approle" }));
        let mut body = json!({ "token_policies": ["app"] });
        merge(&mut body, self.role_ttls());
        bao.write("auth/approle/role/app", body);
        let role_id = str_at(&bao.read("auth/approle/role/app/role-id"), "/data/role_id");
        let secret_id = str_at(
            &bao.write("auth/approle/role/app/secret-id", json!({})),
            "/data/secret_id",
        );
        let role_id_path = dir.join("role_id");
        let secret_id_path = dir.join("secret_id");
        write_private(&role_id_path, &role_id);
        write_private(&secret_id_path, &secret_id);
        AppRoleCreds {
            role_id,
            secret_id,
            role_id_path,
            secret_id_path,
        }
    }

    fn setup_database(&self, bao: &impl Api, pg: &Postgres) {
        let roles: Vec<&str> = std::iter::once("app")
            .chain(self.db_roles.iter().map(String::as_str))
            .collect();
        bao.write("sys/mounts/database", json!({ "type": "database" }));
        bao.write(
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": pg.vault_connection_url(),
                "username": SUPERUSER,
                "password": pg.superuser_password(),
                "allowed_roles": roles,
            }),
        );
        for role in roles {
            bao.write(
                &format!("database/roles/{role}"),
                json!({
                    "db_name": "pg",
                    "creation_statements": [
                        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                        "GRANT CONNECT ON DATABASE postgres TO \"{{name}}\";",
                    ],
                    "default_ttl": ttl(self.db_default_ttl),
                    "max_ttl": ttl(self.db_max_ttl),
                }),
            );
        }
    }

    fn setup_pki(&self, bao: &impl Api) {
        bao.write(
            "sys/mounts/pki",
            json!({ "type": "pki", "config": { "max_lease_ttl": "87600h" } }),
        );
        // Set the URLs before issuing anything, or every issue carries a warning.
        let base = format!("{}/v1/pki", bao.addr());
        bao.write(
            "pki/config/urls",
            json!({
                "issuing_certificates": [format!("{base}/ca")],
                "crl_distribution_points": [format!("{base}/crl")],
            }),
        );
        // EC keys: RSA key generation would dominate setup and issue time on a small machine.
        bao.write(
            "pki/root/generate/internal",
            json!({ "common_name": "sidekey test root", "ttl": "87600h", "key_type": "ec", "key_bits": 256 }),
        );
        bao.write(
            "pki/roles/app",
            json!({
                "allowed_domains": [PKI_DOMAIN],
                "allow_subdomains": true,
                "max_ttl": ttl(self.pki_max_ttl),
                "key_type": "ec",
                "key_bits": 256,
            }),
        );
    }
}

/// Add `extra`'s keys to the object `base`.
fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
}

/// The string at JSON pointer `ptr`; panics naming the pointer and the body otherwise.
pub fn str_at(body: &Value, ptr: &str) -> String {
    body.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {body}"))
        .to_owned()
}

impl Fixture {
    /// The OpenBao address, `http://127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.bao.addr()
    }

    /// The JWT issuer; panics if the fixture was built without [`Setup::jwt`].
    pub fn jwt(&self) -> &JwtIssuer {
        self.jwt
            .as_ref()
            .expect("fixture built without Setup::jwt()")
    }

    /// The PostgreSQL cluster; panics if the fixture was built without [`Setup::database`].
    pub fn postgres(&self) -> &Postgres {
        self.postgres
            .as_ref()
            .expect("fixture built without Setup::database()")
    }

    /// The AppRole credentials; panics if the fixture was built without [`Setup::approle`].
    pub fn approle(&self) -> &AppRoleCreds {
        self.approle
            .as_ref()
            .expect("fixture built without Setup::approle()")
    }

    /// Mint a JWT for `sub`/`aud` valid for `ttl` and write it to a file in [`Fixture::dir`].
    pub fn mint_jwt(&self, sub: &str, aud: &str, ttl: Duration) -> MintedJwt {
        self.jwt().mint_jwt(sub, aud, ttl)
    }

    /// A JWT the `app` role accepts, valid 10 minutes, in a file.
    pub fn app_jwt(&self) -> MintedJwt {
        self.mint_jwt(APP_SUBJECT, AUDIENCE, Duration::from_secs(600))
    }

    /// An agent config in the scratch dir (see [`Fixture::write_config`]): JWT auto-auth as role `app`
    /// (backoff 1–4 s) with a token sink at `out/token`, the audit file `out/audit.log`, then `body`.
    pub fn jwt_agent_config(&self, out: &Path, body: &str) -> PathBuf {
        let jwt = self.app_jwt();
        let text = [
            crate::hcl::vault(&self.addr()),
            crate::hcl::AutoAuth::jwt(&jwt.path, "app")
                .backoff("1s", "4s")
                .sink(&out.join("token"), &[])
                .to_string(),
            crate::hcl::audit(&out.join("audit.log"), &[]),
            body.to_owned(),
        ]
        .concat();
        self.write_config(&text)
    }

    /// Write an agent config into the fixture's scratch dir, under a fresh name each time; returns the path.
    pub fn write_config(&self, text: &str) -> PathBuf {
        self.write_file(&format!("agent-{}.hcl", crate::random_hex(4)), text)
    }

    /// A new token with policy `app` (TTL 1 h), made with the root token: (token, accessor).
    pub fn app_token(&self) -> (String, String) {
        let body = self.bao.write(
            "auth/token/create",
            json!({ "policies": ["app"], "ttl": "1h" }),
        );
        (
            str_at(&body, "/auth/client_token"),
            str_at(&body, "/auth/accessor"),
        )
    }

    /// A background `sidekey` against this fixture: a clean environment plus `BAO_ADDR`, its logs in
    /// [`Fixture::dir`]. Add the subcommand and arguments, then `start`.
    pub fn agent(&self) -> Builder {
        Background::sidekey()
            .clean_env()
            .env("BAO_ADDR", self.addr())
            .logs_in(self.dir.path())
    }

    /// Write `contents` to `name` in the fixture's scratch dir; returns the path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        write_private(&path, contents);
        path
    }

    /// Log in at `auth/jwt/login` with `jwt` as role `role`; the raw reply.
    pub fn jwt_login(&self, role: &str, jwt: &str) -> crate::bao::Reply {
        self.bao.request(
            "POST",
            "auth/jwt/login",
            None,
            Some(&json!({ "role": role, "jwt": jwt })),
        )
    }
}
