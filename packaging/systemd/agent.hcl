# A config for the shipped units, installed as /etc/sidekey/agent.hcl (sidekey.service). For
# sidekey@NAME.service copy it to /etc/sidekey/NAME.hcl and write "NAME" for "agent" in every path.
# Every path sidekey writes is in a directory the unit makes writable for it (docs/systemd.md):
# /run/sidekey/agent (tmpfs, kept across restarts), /var/lib/sidekey/agent, /var/log/sidekey/agent.

vault {
  address = "https://openbao.internal:8200"
  # ca_cert = "/etc/sidekey/ca.pem"
}

auto_auth {
  method "approle" {
    config = {
      role_id_file_path   = "/etc/sidekey/role-id"   # root:sidekey, mode 0640
      secret_id_file_path = "/etc/sidekey/secret-id" # root:sidekey, mode 0640
      # /etc is read-only for sidekey (ProtectSystem=strict): keep the file, so a restart can log in again.
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = {
      path = "/run/sidekey/agent/.vault-token"
      mode = 0600 # not Vault Agent's 0640: the directory's group is there for the applications
    }
  }
}

# Resume the token and the leases after a restart instead of issuing new ones. On tmpfs, and kept when
# the service stops or restarts (RuntimeDirectoryPreserve=yes). Encrypted when the unit passes the
# credential sidekey-state-key (see LoadCredential= in the unit, and docs/persistence.md).
lease_state_file = "/run/sidekey/agent/lease-state"

template {
  destination = "/run/sidekey/agent/db.env"
  perms       = "0640" # group sidekey: units with SupplementaryGroups=sidekey can read it
  contents    = <<-EOT
  {{ with secret "database/creds/app" }}
  DB_USER={{ .Data.username }}
  DB_PASSWORD={{ .Data.password }}
  {{ end }}
  EOT
  # The application reloads through examples/app-secrets.path; a command needs permission (docs/systemd.md):
  # command = "systemctl reload app.service"
}

audit {
  file { path = "/var/log/sidekey/agent/audit.log" } # reopened on SIGHUP (logrotate)
  # http {
  #   url        = "https://collector.internal/v1/events"
  #   spool_path = "/var/lib/sidekey/agent/audit.spool"
  # }
}

listener "admin" {
  address = "unix:/run/sidekey/agent/admin.sock" # /healthz /readyz /metrics
}
