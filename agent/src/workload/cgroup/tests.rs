use super::*;

const ID: &str = "9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d";
const POD: &str = "0b6b5f2a-7c5d-4a4e-9f3b-1d2e3f4a5b6c";

fn placed(unit: Option<&str>, container_id: Option<&str>, pod_uid: Option<&str>) -> Placement {
    Placement {
        unit: unit.map(str::to_string),
        container_id: container_id.map(str::to_string),
        pod_uid: pod_uid.map(str::to_string),
    }
}

#[test]
fn the_v2_line_is_the_path() {
    assert_eq!(
        path_of("0::/system.slice/app-a.service\n"),
        Some("/system.slice/app-a.service")
    );
    // Hybrid: v1 controllers listed too; the v2 line still wins when it is not the root.
    let hybrid = "12:pids:/system.slice/app-a.service\n\
                  1:name=systemd:/system.slice/app-a.service\n\
                  0::/system.slice/app-a.service\n";
    assert_eq!(path_of(hybrid), Some("/system.slice/app-a.service"));
}

#[test]
fn a_root_or_absent_v2_line_falls_back_to_the_name_systemd_line() {
    // Hybrid systems where systemd does not mirror its tree into the unified hierarchy.
    let root_v2 = "9:name=systemd:/system.slice/app-a.service\n8:pids:/\n0::/\n";
    assert_eq!(path_of(root_v2), Some("/system.slice/app-a.service"));
    // Pure v1 (no `0::` line at all), the systemd line numbered 1 as on most distributions.
    let v1 = "2:cpu,cpuacct:/system.slice/foo.service\n1:name=systemd:/system.slice/foo.service\n";
    assert_eq!(path_of(v1), Some("/system.slice/foo.service"));
    // Nothing better than the root: the root.
    assert_eq!(path_of("9:name=systemd:/\n0::/\n"), Some("/"));
    assert_eq!(path_of("0::/\n"), Some("/"));
    // Neither line: no path (v1 controllers say nothing about units).
    assert_eq!(path_of("4:memory:/docker/abc\n"), None);
    assert_eq!(path_of(""), None);
}

#[test]
fn paths_may_hold_colons() {
    assert_eq!(
        path_of("0::/machine.slice/a:b.scope\n"),
        Some("/machine.slice/a:b.scope")
    );
}

#[test]
fn system_and_user_units() {
    let cases = [
        ("/system.slice/app-a.service", "app-a.service"),
        (
            "/system.slice/system-getty.slice/getty@tty1.service",
            "getty@tty1.service",
        ),
        ("/init.scope", "init.scope"),
        (
            "/user.slice/user-1000.slice/session-3.scope",
            "session-3.scope",
        ),
        (
            "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
            "foo.service",
        ),
        (
            "/user.slice/user-1000.slice/user@1000.service/init.scope",
            "init.scope",
        ),
        // A service that delegates and puts its processes in sub-cgroups.
        ("/system.slice/foo.service/worker", "foo.service"),
        ("/system.slice/docker.service", "docker.service"),
    ];
    for (path, unit) in cases {
        assert_eq!(placement(path), placed(Some(unit), None, None), "{path}");
    }
}

#[test]
fn no_unit_outside_services_and_scopes() {
    for path in [
        "/",
        "",
        "/system.slice",
        "/user.slice/user-1000.slice",
        "/skt/plain",
    ] {
        assert_eq!(placement(path), Placement::default(), "{path}");
    }
}

#[test]
fn kubernetes_with_the_systemd_driver() {
    let uscore = POD.replace('-', "_");
    for (runtime, qos) in [("cri-containerd", "burstable"), ("crio", "besteffort")] {
        let path = format!(
            "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uscore}.slice/{runtime}-{ID}.scope"
        );
        assert_eq!(
            placement(&path),
            placed(None, Some(ID), Some(POD)),
            "{path}"
        );
    }
    // Guaranteed pods sit directly under kubepods.slice.
    let path = format!("/kubepods.slice/kubepods-pod{uscore}.slice/cri-containerd-{ID}.scope");
    assert_eq!(placement(&path), placed(None, Some(ID), Some(POD)));
    // kind / kubelet-in-a-slice layouts.
    let path = format!(
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/\
         kubelet-kubepods-besteffort-pod{uscore}.slice/cri-containerd-{ID}.scope"
    );
    assert_eq!(placement(&path), placed(None, Some(ID), Some(POD)));
    // crun's nested `container` cgroup inside the scope.
    let path = format!("/kubepods.slice/kubepods-pod{uscore}.slice/crio-{ID}.scope/container");
    assert_eq!(placement(&path), placed(None, Some(ID), Some(POD)));
    // CRI-O's conmon scope: the pod's, but neither a unit nor a container.
    let path = format!("/kubepods.slice/kubepods-pod{uscore}.slice/crio-conmon-{ID}.scope");
    assert_eq!(placement(&path), placed(None, None, Some(POD)));
}

#[test]
fn kubernetes_with_cgroupfs() {
    for path in [
        format!("/kubepods/burstable/pod{POD}/{ID}"),
        format!("/kubepods/besteffort/pod{POD}/{ID}"),
        format!("/kubepods/pod{POD}/{ID}"),
    ] {
        assert_eq!(
            placement(&path),
            placed(None, Some(ID), Some(POD)),
            "{path}"
        );
    }
    // A static pod's UID is its config hash.
    let hash = "6f4b0c1d2e3f4a5b6c7d8e9f0a1b2c3d";
    let path = format!("/kubepods/burstable/pod{hash}/{ID}");
    assert_eq!(placement(&path), placed(None, Some(ID), Some(hash)));
    // The pod's own cgroup (the pause container lives below it).
    assert_eq!(
        placement(&format!("/kubepods/pod{POD}")),
        placed(None, None, Some(POD))
    );
}

#[test]
fn docker_and_podman() {
    assert_eq!(
        placement(&format!("/system.slice/docker-{ID}.scope")),
        placed(None, Some(ID), None)
    );
    assert_eq!(
        placement(&format!("/docker/{ID}")),
        placed(None, Some(ID), None)
    );
    // Nested (docker in docker): the innermost container.
    let inner = "a".repeat(64);
    assert_eq!(
        placement(&format!("/docker/{ID}/docker/{inner}")),
        placed(None, Some(&inner), None)
    );
    assert_eq!(
        placement(&format!("/machine.slice/libpod-{ID}.scope")),
        placed(None, Some(ID), None)
    );
    // Rootless podman under the user's manager: the manager is the unit.
    let path = format!(
        "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
    );
    assert_eq!(
        placement(&path),
        placed(Some("user@1000.service"), Some(ID), None)
    );
    let path = format!("/machine.slice/libpod-conmon-{ID}.scope");
    assert_eq!(placement(&path), Placement::default());
}

#[test]
fn look_alikes_are_not_taken() {
    // 64 hex digits not under docker or a pod directory; a pod-like segment outside kubepods.
    assert_eq!(placement(&format!("/skt/{ID}")), Placement::default());
    assert_eq!(placement(&format!("/skt/pod{POD}")), Placement::default());
    // A slice that is not a kubepods pod slice.
    assert_eq!(
        placement(&format!("/app-pod{POD}.slice")),
        Placement::default()
    );
    // A runtime's prefix with no id is an ordinary scope.
    assert_eq!(
        placement("/system.slice/docker-.scope"),
        placed(Some("docker-.scope"), None, None)
    );
    // A runtime's prefix on a service is the service.
    assert_eq!(
        placement("/system.slice/docker-compose.service"),
        placed(Some("docker-compose.service"), None, None)
    );
}

#[test]
fn a_test_made_tree_under_a_prefix() {
    // Tests build their cgroups below a private directory of the writable v2 tree.
    let path = "/skt-b-123-a/system.slice/app-a.service";
    assert_eq!(placement(path), placed(Some("app-a.service"), None, None));
}
