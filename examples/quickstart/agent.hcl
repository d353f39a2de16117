# sidekey quickstart: a Vault Agent style config, used unchanged by sidekey.
# The server address comes from BAO_ADDR (set by run.sh); everything lands in /dev/shm (tmpfs).

pid_file = "/dev/shm/sidekey-quickstart/sidekey.pid"

auto_auth {
  # Workload identity: a Kubernetes-style projected service-account JWT, re-read at every login.
  method "jwt" {
    mount_path = "auth/jwt"
    config = {
      path = "/dev/shm/sidekey-quickstart/sa-token.jwt"
      role = "app"
    }
  }

  sink "file" {
    config = {
      path = "/dev/shm/sidekey-quickstart/token"
      mode = 0600
    }
  }
}

# A KV v2 secret rendered to a file readable only by its owner.
template {
  destination = "/dev/shm/sidekey-quickstart/out/db.env"
  perms       = "0400"
  contents    = <<-EOT
  {{- with secret "secret/data/app/db" -}}
  DB_USER={{ .Data.data.username }}
  DB_PASSWORD={{ .Data.data.password }}
  {{ end -}}
  EOT
}

# A PKI certificate and its key, issued in one call and split into two files.
template {
  destination = "/dev/shm/sidekey-quickstart/out/tls.crt"
  contents    = "{{ with secret \"pki/issue/app\" \"common_name=web.example.test\" \"ttl=1h\" }}{{ .Data.certificate }}{{ end }}"
}

template {
  destination = "/dev/shm/sidekey-quickstart/out/tls.key"
  perms       = "0400"
  contents    = "{{ with secret \"pki/issue/app\" \"common_name=web.example.test\" \"ttl=1h\" }}{{ .Data.private_key }}{{ end }}"
}

# For `sidekey exec`: the child gets DB_PASSWORD in its environment, and never the agent's token.
env_template "DB_PASSWORD" {
  contents = "{{ with secret \"secret/data/app/db\" }}{{ .Data.data.password }}{{ end }}"
}

audit {
  file {
    path = "/dev/shm/sidekey-quickstart/audit.log"
  }
}
