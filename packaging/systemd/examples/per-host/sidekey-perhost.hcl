# One sidekey for the whole host (per-host mode, docs/per-host.md): three services running as three users,
# each given only its own secrets, each with a token of its own that the server checks and audits.
#
# Installed as /etc/sidekey/perhost.hcl and run by the shipped sidekey@.service as sidekey@perhost.service,
# with the drop-in sidekey@perhost.service.d/per-host.conf beside this file. The sockets are in the
# instance's runtime directory /run/sidekey/perhost/.
#
#   billing.service  User=billing  BAO_ADDR=unix:///run/sidekey/perhost/api.sock   (the bao CLI, Go's vault/api)
#   web.service      User=web      VAULT_ADDR=unix:///run/sidekey/perhost/api.sock (the same, Vault's spelling)
#   reports.service  User=reports  LoadCredential=db-password:/run/sidekey/perhost/creds.sock
#
# On the server (docs/per-host.md, "Tokens"): the policies billing, web and reports; the token role
#   bao write auth/token/roles/sidekey-workloads allowed_policies=billing,web,reports orphan=true token_period=1h
# and, for this agent's own token (the AppRole role's token_policies), a policy that may only use the role:
#   path "auth/token/create/sidekey-workloads" { capabilities = ["update"] }

vault {
  address = "https://openbao.internal:8200"
  # ca_cert = "/etc/sidekey/ca.pem"
}

# The agent's own login. Its token never leaves sidekey: no sink, and no listener adds it to requests.
auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/sidekey/perhost-role-id"   # root:sidekey, mode 0640
      secret_id_file_path = "/etc/sidekey/perhost-secret-id" # root:sidekey, mode 0640
      # /etc is read-only for sidekey (ProtectSystem=strict): keep the file, so a restart can log in again.
      remove_secret_id_file_after_reading = false
    }
  }
}

# The callers' door: with workload stanzas in the config it serves each caller with its workload's token.
# The socket is mode 0666 by default: the kernel's word on who connected is the gate, not the file mode.
listener "unix" {
  address = "/run/sidekey/perhost/api.sock"
}

# systemd's LoadCredential= connects here (as uid 0) to fetch a credential for a unit that is starting.
listener "credentials" {
  address = "/run/sidekey/perhost/creds.sock"
}

# Each workload: which callers it is (every key given must hold), and what its token may do.
workload "billing" {
  match {
    user = "billing"
    unit = "billing.service"
  }
  token_role = "sidekey-workloads"
  policies   = ["billing"]
}

workload "web" {
  match {
    user = "web"
    unit = "web.service"
  }
  token_role = "sidekey-workloads"
  policies   = ["web"]
}

workload "reports" {
  match {
    user = "reports"
    unit = "reports.service"
  }
  token_role = "sidekey-workloads"
  policies   = ["reports"]

  # Rendered with the reports token when reports.service starts; the unit reads it from
  # $CREDENTIALS_DIRECTORY/db-password. No file of secrets outside the unit's own credential store.
  credential "db-password" {
    unit     = "reports.service"
    contents = "{{ with secret \"secret/data/reports/db\" }}{{ .Data.data.password }}{{ end }}"
  }
}

audit {
  file { path = "/var/log/sidekey/perhost/audit.log" } # every event names the caller and its workload
}
