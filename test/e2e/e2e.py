#!/usr/bin/env python3
"""End-to-end tests of gpusched-extender with a real kube-scheduler (test/e2e/README.md).

One scenario per run:  e2e.py --scenario NAME --extender BIN --repo ROOT
Starts its own control plane (scripts/control-plane.sh: etcd, kube-apiserver v1.20.2,
kube-scheduler configured from deploy/), applies deploy/'s namespace, CRD, RBAC and ConfigMap to
the API server, runs gpusched-extender authenticated as deploy/'s ServiceAccount, creates fake
nodes (there is no kubelet) and pods, and checks where kube-scheduler put them.

Exit codes: 0 pass, 1 fail, 77 skip (no kube binaries or etcd on this machine). Standard library
only. Everything listens on 127.0.0.1; every process is stopped by PID at the end, also on
failure or SIGTERM.
"""
import argparse
import collections
import concurrent.futures
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SKIP = 77
GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
GPU_MEMORY_MIB = 81920
ASSIGNMENT = "gpusched.io/assignment"
PG_LABEL = "scheduling.x-k8s.io/pod-group"


class Fail(Exception):
    pass


class Terminated(BaseException):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the API client

class Api:
    """A small Kubernetes REST client: one keep-alive HTTPS connection per thread."""

    def __init__(self, base, ca, token):
        u = urllib.parse.urlparse(base)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token = token
        self.local = threading.local()

    def _conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
            self.local.conn = c
        return c

    def request(self, method, path, body=None, ctype="application/json", ok=(200, 201)):
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(3):
            try:
                c = self._conn(fresh=attempt > 0)
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, OSError) as e:
                if attempt == 2:
                    raise Fail(f"{method} {path}: {e}")
                time.sleep(0.2)
        obj = None
        if raw:
            try:
                obj = json.loads(raw)
            except ValueError:
                obj = raw.decode(errors="replace")
        if ok is not None and r.status not in ok:
            raise Fail(f"{method} {path}: HTTP {r.status}: {str(obj)[:600]}")
        return r.status, obj

    def get(self, path, **kw):
        return self.request("GET", path, **kw)[1]

    def create(self, path, obj, **kw):
        return self.request("POST", path, obj, **kw)[1]

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, ctype="application/merge-patch+json")[1]

    def delete(self, path, body=None):
        return self.request("DELETE", path, body, ok=(200, 202, 404))[1]


# ---------------------------------------------------------------------------- deploy/ manifests

PLURALS = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
}


def yaml_documents(path):
    """The documents of a multi-document YAML file, as text (the API server parses them)."""
    text = open(path).read()
    docs = re.split(r"(?m)^---\s*$", text)
    return [d for d in docs if re.search(r"(?m)^kind:", d)]


def apply_yaml_doc(api, doc, source):
    kind = re.search(r"(?m)^kind:\s*(\S+)", doc).group(1)
    check(kind in PLURALS, f"{source}: kind {kind} not known to the e2e harness")
    prefix, plural, namespaced = PLURALS[kind]
    path = f"{prefix}/{plural}"
    if namespaced:
        meta = re.search(r"(?ms)^metadata:\n((?:[ \t]+.*\n?)*)", doc).group(1)
        ns = re.search(r"(?m)^  namespace:\s*(\S+)", meta)
        check(ns is not None, f"{source}: {kind} without metadata.namespace")
        path = f"{prefix}/namespaces/{ns.group(1)}/{plural}"
    api.create(path, doc, ctype="application/yaml")
    return kind


def apply_file(api, path):
    kinds = [apply_yaml_doc(api, d, path) for d in yaml_documents(path)]
    log(f"applied {os.path.relpath(path)}: {', '.join(kinds)}")


# ---------------------------------------------------------------------------- the cluster

class Cluster:
    def __init__(self, args):
        self.args = args
        self.repo = args.repo
        self.script = os.path.join(self.repo, "scripts", "control-plane.sh")
        self.dir = tempfile.mkdtemp(prefix=f"gpusched-e2e-{args.scenario}-")
        self.api = None
        self.ext_port = None
        self.ext_proc = None
        self.ext_config = None
        self.started = False

    # -- lifecycle

    def start(self):
        r = subprocess.run(["bash", self.script, "start", self.dir])
        self.started = True
        check(r.returncode == 0, "the control plane did not start")
        env = dict(line.split("=", 1) for line in open(os.path.join(self.dir, "env")).read().split())
        self.env = env
        self.api = Api(env["KUBE_API"], env["KUBE_CA"], env["KUBE_ADMIN_TOKEN"])
        self.install_deploy()
        self.start_extender()
        self.start_gpusched_scheduler()

    def stop(self):
        # The extender is our child: stop and reap it here first. Left to the script, it would
        # stay a zombie until we wait for it, which `kill -0` cannot tell from a live process.
        if self.ext_proc is not None and self.ext_proc.poll() is None:
            self.ext_proc.terminate()
            try:
                self.ext_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log("gpusched-extender ignored TERM for 10 s; killing it")
                self.ext_proc.kill()
                self.ext_proc.wait()
        if self.started:
            subprocess.run(["bash", self.script, "stop", self.dir])

    def cleanup(self):
        if os.environ.get("GPUSCHED_E2E_KEEP"):
            log(f"state kept in {self.dir} (GPUSCHED_E2E_KEEP)")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def dump_logs(self, lines=60):
        for name in ("extender", "gpusched-scheduler", "default-scheduler", "kube-apiserver", "etcd"):
            p = os.path.join(self.dir, f"{name}.log")
            if not os.path.exists(p):
                continue
            with open(p, errors="replace") as f:
                tail = f.readlines()[-lines:]
            print(f"----- last {len(tail)} lines of {name}.log", flush=True)
            sys.stdout.write("".join(tail))
        sys.stdout.flush()

    # -- deploy/

    def install_deploy(self):
        d = os.path.join(self.repo, "deploy")
        apply_file(self.api, os.path.join(d, "base", "namespace.yaml"))
        apply_file(self.api, os.path.join(d, "base", "podgroup-crd.yaml"))
        apply_file(self.api, os.path.join(d, "base", "rbac.yaml"))
        apply_file(self.api, os.path.join(d, "base", "scheduler-config.yaml"))
        # deploy/overlays/k8s-1.20: the v1beta1 component's strategic-merge patch of the ConfigMap.
        patch_doc = yaml_documents(os.path.join(d, "v1beta1", "scheduler-config-1.20.yaml"))[0]
        rendered = self.api.create(
            "/api/v1/namespaces/gpusched-system/configmaps?dryRun=All",
            re.sub(r"(?m)^  name: gpusched-scheduler-config$", "  name: e2e-render", patch_doc),
            ctype="application/yaml")
        self.api.request("PATCH", "/api/v1/namespaces/gpusched-system/configmaps/gpusched-scheduler-config",
                         {"data": rendered["data"]}, ctype="application/strategic-merge-patch+json")
        cm = self.api.get("/api/v1/namespaces/gpusched-system/configmaps/gpusched-scheduler-config")
        self.deploy_scheduler_config = cm["data"]["scheduler-config.yaml"]
        self.deploy_extender_config = cm["data"]["extender.yaml"]
        check("kubescheduler.config.k8s.io/v1beta1" in self.deploy_scheduler_config,
              "the k8s-1.20 ConfigMap patch did not apply")
        self.wait(lambda: any(c["type"] == "Established" and c["status"] == "True" for c in
                              self.api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                           "podgroups.scheduling.x-k8s.io")["status"].get("conditions", [])),
                  30, "the PodGroup CRD to be established")

    def start_extender(self):
        cfg = self.deploy_extender_config
        # The same file as deploy/'s, except: the kubeconfig of the ServiceAccount instead of the
        # in-cluster one, and no node agents (there are no nodes to run them).
        cfg, n = re.subn(r"(?m)^(\s*)inCluster:\s*true.*$",
                         lambda m: f"{m.group(1)}kubeconfig: {self.dir}/gpusched.kubeconfig", cfg)
        check(n == 1, "deploy's extender.yaml has no 'inCluster: true' to replace")
        cfg, n = re.subn(r"(?m)^agents:\n(?:[ \t]+.*\n?)*", "", cfg)
        check(n == 1, "deploy's extender.yaml has no agents: section to drop")
        self.ext_config = os.path.join(self.dir, "extender.yaml")
        with open(self.ext_config, "w") as f:
            f.write(cfg)
        self.ext_port = free_port()
        self.launch_extender()

    def launch_extender(self):
        logf = open(os.path.join(self.dir, "extender.log"), "a")
        self.ext_proc = subprocess.Popen(
            [self.args.extender, "--config", self.ext_config, "--listen", f"127.0.0.1:{self.ext_port}"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        with open(os.path.join(self.dir, "extender.pid"), "w") as f:
            f.write(str(self.ext_proc.pid))
        self.wait(lambda: self.ext_proc.poll() is None and self.extender_get("/readyz")[0] == 200,
                  60, "gpusched-extender /readyz", fail_early=lambda: self.ext_proc.poll() is not None)
        log(f"gpusched-extender ready on 127.0.0.1:{self.ext_port} (pid {self.ext_proc.pid})")

    def kill_extender(self, sig=signal.SIGKILL):
        self.ext_proc.send_signal(sig)
        self.ext_proc.wait(timeout=30)
        os.unlink(os.path.join(self.dir, "extender.pid"))

    def extender_request(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.ext_port, timeout=30)
        try:
            c.request(method, path, body=None if body is None else json.dumps(body),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace")
        except OSError as e:
            return 0, str(e)
        finally:
            c.close()

    def extender_get(self, path):
        return self.extender_request("GET", path)

    def extender_verb(self, verb, body):
        status, text = self.extender_request("POST", f"/{verb}", body)
        check(status == 200, f"extender /{verb}: HTTP {status}: {text[:300]}")
        return json.loads(text)

    def start_gpusched_scheduler(self):
        cfg = self.deploy_scheduler_config
        cfg, n = re.subn(r'urlPrefix:\s*"http://127\.0\.0\.1:\d+"',
                         f'urlPrefix: "http://127.0.0.1:{self.ext_port}"', cfg)
        check(n == 1, "deploy's scheduler config has no loopback urlPrefix")
        port = free_port()
        cfg, n = re.subn(r"(?m)^(healthzBindAddress|metricsBindAddress):\s*127\.0\.0\.1:\d+",
                         lambda m: f"{m.group(1)}: 127.0.0.1:{port}", cfg)
        check(n == 2, "deploy's v1beta1 scheduler config does not bind healthz/metrics to loopback")
        cfg, n = re.subn(r"(?m)^kind: KubeSchedulerConfiguration$",
                         "kind: KubeSchedulerConfiguration\nclientConnection:\n"
                         f"  kubeconfig: {self.dir}/gpusched.kubeconfig", cfg)
        check(n == 1, "no KubeSchedulerConfiguration in deploy's ConfigMap")
        self.start_scheduler("gpusched-scheduler", cfg)

    def start_default_scheduler(self):
        port = free_port()
        cfg = ("apiVersion: kubescheduler.config.k8s.io/v1beta1\n"
               "kind: KubeSchedulerConfiguration\n"
               f"clientConnection:\n  kubeconfig: {self.dir}/kube-scheduler.kubeconfig\n"
               "leaderElection:\n  leaderElect: false\n"
               f"healthzBindAddress: 127.0.0.1:{port}\nmetricsBindAddress: 127.0.0.1:{port}\n"
               "percentageOfNodesToScore: 100\n")
        self.start_scheduler("default-scheduler", cfg)

    def start_scheduler(self, name, cfg):
        path = os.path.join(self.dir, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        r = subprocess.run(["bash", self.script, "scheduler", self.dir, name, path])
        check(r.returncode == 0, f"{name} did not start")

    # -- waiting

    def wait(self, cond, timeout, what, fail_early=None, interval=0.1):
        deadline = time.time() + timeout
        while True:
            try:
                if cond():
                    return
            except (Fail, KeyError, ValueError, TypeError):
                pass
            if fail_early is not None and fail_early():
                raise Fail(f"gave up waiting for {what}")
            if time.time() > deadline:
                raise Fail(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    # -- objects

    def namespace(self, name):
        self.api.create("/api/v1/namespaces", {"metadata": {"name": name}})
        # No controller-manager: the ServiceAccount admission needs the `default` one to exist.
        self.api.create(f"/api/v1/namespaces/{name}/serviceaccounts",
                        {"metadata": {"name": "default"}, "automountServiceAccountToken": False})
        return name

    def model_nodes(self):
        status, text = self.extender_get("/metrics")
        m = re.search(r"(?m)^gpusched_model_nodes(?:\{\})?\s+(\S+)", text) if status == 200 else None
        return int(float(m.group(1))) if m else -1

    def wait_model_nodes(self, n):
        """The extender's model holds `n` nodes (its informer has seen every node created)."""
        self.wait(lambda: self.model_nodes() == n, 30, f"the extender's model to hold {n} nodes")

    def node(self, name, gpus=8, labels=None, cpu="64"):
        lab = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        if gpus:
            lab.update({"nvidia.com/gpu.product": GPU_PRODUCT, "nvidia.com/gpu.memory": str(GPU_MEMORY_MIB),
                        "nvidia.com/gpu.count": str(gpus)})
        lab.update(labels or {})
        res = {"cpu": cpu, "memory": "512Gi", "pods": "110"}
        if gpus:
            res["nvidia.com/gpu"] = str(gpus)
        t = now_rfc3339()
        status = {"capacity": res, "allocatable": res,
                  "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                  "message": "e2e: no kubelet", "lastHeartbeatTime": t,
                                  "lastTransitionTime": t}]}
        self.api.create("/api/v1/nodes", {"metadata": {"name": name, "labels": lab}, "status": status})
        self.api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": status})
        # No node-lifecycle controller: drop the node.kubernetes.io/not-ready taint ourselves.
        self.api.merge_patch(f"/api/v1/nodes/{name}", {"spec": {"taints": None}})
        return name

    def pod_spec(self, name, gpus=0, milli=0, mem_gi=0, labels=None, scheduler="gpusched", cpu="100m",
                 affinity=None):
        limits = {}
        if gpus:
            limits["nvidia.com/gpu"] = str(gpus)
        if milli:
            limits["gpusched.io/gpu-milli"] = str(milli)
        if mem_gi:
            limits["gpusched.io/gpu-memory"] = f"{mem_gi}Gi"
        spec = {"schedulerName": scheduler, "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "c", "image": "registry.invalid/e2e:none",
                                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}, "limits": limits}}]}
        if affinity:
            spec["affinity"] = affinity
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": labels or {}}, "spec": spec}

    def create_pod(self, ns, pod):
        return self.api.create(f"/api/v1/namespaces/{ns}/pods", pod)

    def pods(self, ns, selector=None):
        q = "" if selector is None else "?labelSelector=" + urllib.parse.quote(selector)
        return self.api.get(f"/api/v1/namespaces/{ns}/pods{q}")["items"]

    def force_delete_pod(self, ns, name):
        # There is no kubelet: grace period 0 removes the pod at once (and frees its devices).
        self.api.delete(f"/api/v1/namespaces/{ns}/pods/{name}",
                        {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})

    def events(self, ns, pod_name):
        sel = urllib.parse.quote(f"involvedObject.name={pod_name}")
        return self.api.get(f"/api/v1/namespaces/{ns}/events?fieldSelector={sel}")["items"]

    def wait_bound(self, ns, names, timeout):
        names = set(names)

        def done():
            bound = {p["metadata"]["name"] for p in self.pods(ns) if p["spec"].get("nodeName")}
            return names <= bound
        self.wait(done, timeout, f"{len(names)} pods in {ns} to be bound")
        return {p["metadata"]["name"]: p for p in self.pods(ns) if p["metadata"]["name"] in names}

    def failed_scheduling_messages(self, ns, pod_name):
        return [e.get("message", "") for e in self.events(ns, pod_name) if e.get("reason") == "FailedScheduling"]


# ---------------------------------------------------------------------------- shared checks

def assignment(pod):
    a = pod["metadata"].get("annotations", {}).get(ASSIGNMENT)
    check(a is not None, f"pod {pod['metadata']['name']} bound to {pod['spec'].get('nodeName')} "
                         f"without the {ASSIGNMENT} annotation")
    return json.loads(a)


def check_assignments(pods, node_gpus):
    """Every bound GPU pod carries a device assignment that matches its node and request, and no
    device is given twice: per GPU the milli-GPU and memory handed out fit the device, a whole GPU
    is nobody else's."""
    used = collections.defaultdict(lambda: [0, 0, 0])  # (node, index) -> milli, MiB, pods
    for p in pods:
        name, node = p["metadata"]["name"], p["spec"].get("nodeName")
        if not node:
            continue
        limits = p["spec"]["containers"][0]["resources"].get("limits", {})
        gpus = int(limits.get("nvidia.com/gpu", 0))
        milli = int(limits.get("gpusched.io/gpu-milli", 0))
        if not gpus and not milli:
            continue
        a = assignment(p)
        check(a.get("node") == node, f"pod {name}: assignment names node {a.get('node')}, bound to {node}")
        devs = a.get("gpus", [])
        if gpus:
            check(len(devs) == gpus and all(d["milli"] == 1000 for d in devs),
                  f"pod {name}: asked {gpus} whole GPUs, assigned {devs}")
        else:
            check(len(devs) == 1 and devs[0]["milli"] == milli,
                  f"pod {name}: asked {milli} milli-GPU, assigned {devs}")
        check(len({d["index"] for d in devs}) == len(devs), f"pod {name}: a device twice in {devs}")
        for d in devs:
            check(0 <= d["index"] < node_gpus[node], f"pod {name}: device {d['index']} not on {node}")
            u = used[(node, d["index"])]
            u[0] += d["milli"]; u[1] += d.get("memoryMiB", 0); u[2] += 1
    for (node, idx), (milli, mib, n) in used.items():
        check(milli <= 1000, f"{node} GPU {idx}: {milli} milli-GPU handed out to {n} pods (double allocation)")
        check(mib <= GPU_MEMORY_MIB, f"{node} GPU {idx}: {mib} MiB handed out to {n} pods (double allocation)")
    return used


def extender_args(pod, node_names):
    return {"Pod": pod, "NodeNames": node_names}


def extender_choice(cl, pod, node_names):
    """What our policy picks for `pod` now, as (its pick, every node kube-scheduler may rightly
    take). /prioritize gives the profile's pick 10; nodes tied with it get 9 when some node scores
    lower, but when every feasible node ties, the others get 0 and the pick is a random
    tie-break made anew on every call: then any feasible node is the policy's choice. Which case
    it is shows when repeated calls pick different nodes."""
    f = cl.extender_verb("filter", extender_args(pod, node_names))
    feasible = f.get("NodeNames") or []
    check(feasible, f"extender rejects every node for {pod['metadata']['name']}: {f}")

    def ask():
        prio = cl.extender_verb("prioritize", extender_args(pod, feasible))
        top = [h["Host"] for h in prio if h["Score"] == 10]
        check(len(top) == 1, f"/prioritize gave priority 10 to {top}")
        return top[0], {h["Host"] for h in prio if h["Score"] == 9}
    top, nines = ask()
    if nines or len(feasible) == 1:
        return top, {top} | nines
    for _ in range(20):
        if ask()[0] != top:
            return top, set(feasible)  # all tied
    return top, {top}


# ---------------------------------------------------------------------------- scenarios

def scenario_whole_gpu(cl):
    """Whole-GPU pods bind only to nodes with enough free GPUs, and the device assignment is on
    the pod; a pod that fits only one node goes there; a pod no node can take stays Pending."""
    ns = cl.namespace("e2e-whole")
    nodes = {cl.node("gpu-a", 8): 8, cl.node("gpu-b", 4): 4, cl.node("cpu-only", 0): 0}
    names = []
    for i, g in enumerate([4, 2, 1, 1]):
        name = f"whole-{i}-{g}"
        cl.create_pod(ns, cl.pod_spec(name, gpus=g))
        cl.wait_bound(ns, [name], 60)
        names.append(name)

    def free_now():
        used = check_assignments(cl.pods(ns), nodes)
        free = dict(nodes)
        for (node, _), (milli, _, _) in used.items():
            free[node] -= milli // 1000
        return used, free
    used, free = free_now()
    check(sum(u[0] for u in used.values()) == 8000, f"8 whole GPUs expected in use: {dict(used)}")
    k = max(free.values())
    want = {n for n, f in free.items() if f == k}
    cl.create_pod(ns, cl.pod_spec(f"fits-{k}", gpus=k))
    got = cl.wait_bound(ns, [f"fits-{k}"], 60)[f"fits-{k}"]["spec"]["nodeName"]
    check(got in want, f"fits-{k} bound to {got}; only {sorted(want)} had {k} free GPUs ({free})")
    used, free = free_now()
    big = max(free.values()) + 1
    cl.create_pod(ns, cl.pod_spec("toobig", gpus=big))
    cl.wait(lambda: cl.failed_scheduling_messages(ns, "toobig"), 60, "a FailedScheduling event for toobig")
    time.sleep(2)
    p = cl.api.get(f"/api/v1/namespaces/{ns}/pods/toobig")
    check(not p["spec"].get("nodeName"), f"toobig ({big} GPUs) was bound though free GPUs are {free}")
    bound = {p["metadata"]["name"]: p for p in cl.pods(ns) if p["spec"].get("nodeName")}
    check(all(p["spec"]["nodeName"] != "cpu-only" for p in bound.values()), "a GPU pod on cpu-only")
    placed = ", ".join(n + "->" + p["spec"]["nodeName"] + str([d["index"] for d in assignment(p)["gpus"]])
                       for n, p in sorted(bound.items()))
    msg = cl.failed_scheduling_messages(ns, "toobig")[-1]
    log(f"whole-GPU pods: {placed}; toobig ({big} GPUs) pending: {msg}")


def scenario_policy_mixed(cl):
    """50 shared and whole-GPU pods on 10 nodes, one after another: each lands on the node our
    policy picks (/prioritize's choice asked just before), although kube-scheduler's own score
    (a preferred node affinity on every pod) prefers other nodes."""
    ns = cl.namespace("e2e-policy")
    nodes = {}
    for i in range(10):
        nodes[cl.node(f"node-{i:02d}", 8, labels={"e2e/preferred": "yes" if i in (3, 7) else "no"})] = 8
    node_names = sorted(nodes)
    cl.wait_model_nodes(10)
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "e2e/preferred", "operator": "In", "values": ["yes"]}]}}]}}
    # A fixed mix: quarter and half GPUs with memory, and 1/2/4 whole GPUs.
    shapes = [dict(milli=250, mem_gi=10), dict(gpus=1), dict(milli=500, mem_gi=20), dict(gpus=2),
              dict(milli=250, mem_gi=10), dict(milli=250, mem_gi=5), dict(gpus=4), dict(milli=500, mem_gi=40),
              dict(gpus=1), dict(milli=250, mem_gi=10)]
    unique, tied, off_preferred = 0, 0, 0
    for i in range(50):
        shape = shapes[i % len(shapes)]
        name = f"mix-{i:02d}"
        pod = cl.pod_spec(name, affinity=affinity, **shape)
        probe = json.loads(json.dumps(pod))
        probe["metadata"].update({"namespace": ns, "uid": f"e2e-probe-{i}"})
        top, best = extender_choice(cl, probe, node_names)
        cl.create_pod(ns, pod)
        got = cl.wait_bound(ns, [name], 60)[name]["spec"]["nodeName"]
        check(got in best, f"{name} {shape}: bound to {got}; our policy chose {top} (tied: {sorted(best)})")
        unique += len(best) == 1
        tied += 1 < len(best) < len(node_names)
        off_preferred += got not in ("node-03", "node-07")
    pods = cl.pods(ns)
    check_assignments(pods, nodes)
    per_node = collections.Counter(p["spec"]["nodeName"] for p in pods)
    log(f"50 pods on the policy's node: {unique} where it had one best node, {tied} where a few nodes tied, "
        f"{50 - unique - tied} where any node would do; "
        f"{off_preferred} away from kube-scheduler's preferred nodes; per node {dict(sorted(per_node.items()))}")
    check(off_preferred > 0, "every pod went to kube-scheduler's preferred nodes: the test proves nothing")
    check(unique + tied >= 15, f"only {unique + tied} of 50 pods had fewer best nodes than nodes: "
                               "the test proves little")


def scenario_gang(cl):
    """A gang of 4 x 8 GPUs binds all-or-nothing: nothing while only 3 nodes are free, all 4 once
    a 4th is; a gang of 5 on 4 nodes never fits and every member is Pending with our reason."""
    ns = cl.namespace("e2e-gang")
    nodes = {cl.node(f"gang-{i}", 8): 8 for i in range(4)}
    cl.create_pod(ns, cl.pod_spec("blocker", gpus=8))
    blocker_node = cl.wait_bound(ns, ["blocker"], 60)["blocker"]["spec"]["nodeName"]
    pg = "/apis/scheduling.x-k8s.io/v1alpha1/namespaces/" + ns + "/podgroups"
    cl.api.create(pg, {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
                       "metadata": {"name": "train"}, "spec": {"minMember": 4, "scheduleTimeoutSeconds": 30}})
    members = [f"train-{i}" for i in range(4)]
    for m in members:
        cl.create_pod(ns, cl.pod_spec(m, gpus=8, labels={PG_LABEL: "train"}))
    # Only 3 nodes are free: no member may be bound, whatever kube-scheduler retries meanwhile.
    deadline = time.time() + 12
    while time.time() < deadline:
        bound = [p["metadata"]["name"] for p in cl.pods(ns, f"{PG_LABEL}=train") if p["spec"].get("nodeName")]
        check(not bound, f"gang members bound while the gang cannot fit: {bound}")
        time.sleep(0.3)
    msgs = cl.failed_scheduling_messages(ns, "train-0")
    check(msgs, "no FailedScheduling event for train-0 while its gang cannot fit")
    log(f"gang train (3 of 4 nodes free): no member bound for 12 s; train-0: {msgs[-1]}")
    t0 = time.time()
    cl.force_delete_pod(ns, "blocker")
    bound = cl.wait_bound(ns, members, 120)
    check(len({p["spec"]["nodeName"] for p in bound.values()}) == 4, "gang members share a node")
    check_assignments(cl.pods(ns), nodes)
    log(f"gang train: all 4 bound {time.time() - t0:.1f} s after the 4th node was freed "
        f"({blocker_node} held by the blocker before)")

    # A gang that can never fit: 5 x 8 GPUs on 4 nodes, all busy with the first gang or not.
    for m in members:
        cl.force_delete_pod(ns, m)
    cl.wait(lambda: not cl.pods(ns, f"{PG_LABEL}=train"), 30, "the first gang to be gone")
    cl.api.create(pg, {"apiVersion": "scheduling.x-k8s.io/v1alpha1", "kind": "PodGroup",
                       "metadata": {"name": "huge"}, "spec": {"minMember": 5}})
    huge = [f"huge-{i}" for i in range(5)]
    for m in huge:
        cl.create_pod(ns, cl.pod_spec(m, gpus=8, labels={PG_LABEL: "huge"}))
    ours = f"gang {ns}/huge"

    def all_have_reason():
        return all(any(ours in msg for msg in cl.failed_scheduling_messages(ns, m)) for m in huge)
    cl.wait(all_have_reason, 90, f"every member of gang huge to have a FailedScheduling event with '{ours}'",
            interval=0.5)
    pods = cl.pods(ns, f"{PG_LABEL}=huge")
    check(len(pods) == 5 and not any(p["spec"].get("nodeName") for p in pods), "a member of gang huge was bound")
    log(f"gang huge (5 x 8 GPUs, 4 nodes): all Pending; huge-0: {cl.failed_scheduling_messages(ns, 'huge-0')[-1]}")


def scenario_failed_nodes_events(cl):
    """The reasons the extender returns in FailedNodes appear verbatim in the pod's
    FailedScheduling event (kube-scheduler's own filters pass every node)."""
    ns = cl.namespace("e2e-reasons")
    for i in range(3):
        cl.node(f"r-{i}", 8)
    cl.create_pod(ns, cl.pod_spec("too-much-memory", milli=250, mem_gi=100))  # 100 GiB > 80 GB
    cl.wait(lambda: cl.failed_scheduling_messages(ns, "too-much-memory"), 60, "a FailedScheduling event")
    pod = cl.api.get(f"/api/v1/namespaces/{ns}/pods/too-much-memory")
    check(not pod["spec"].get("nodeName"), "too-much-memory was bound")
    f = cl.extender_verb("filter", extender_args(pod, ["r-0", "r-1", "r-2"]))
    reasons = set((f.get("FailedNodes") or {}).values()) | set((f.get("FailedAndUnresolvableNodes") or {}).values())
    check(reasons, f"the extender did not reject the pod: {f}")
    msg = cl.failed_scheduling_messages(ns, "too-much-memory")[-1]
    for r in reasons:
        check(r in msg, f"extender reason {r!r} not verbatim in the event {msg!r}")
    log(f"event: {msg}")


def scenario_restart(cl):
    """The extender is killed in the middle of a workload and started again: it rebuilds its model
    from the API server (the assignment annotations) and hands out no device twice."""
    ns = cl.namespace("e2e-restart")
    nodes = {cl.node(f"rs-{i}", 8): 8 for i in range(4)}
    shapes = [dict(milli=250, mem_gi=10), dict(gpus=1), dict(milli=500, mem_gi=20), dict(gpus=2),
              dict(milli=250, mem_gi=10)]
    first = [f"before-{i:02d}" for i in range(20)]
    for i, n in enumerate(first):
        cl.create_pod(ns, cl.pod_spec(n, **shapes[i % len(shapes)]))
    cl.wait_bound(ns, first, 90)
    cl.kill_extender(signal.SIGKILL)
    log("extender killed (SIGKILL) with 20 pods placed")
    second = [f"during-{i:02d}" for i in range(10)]
    for i, n in enumerate(second):
        cl.create_pod(ns, cl.pod_spec(n, **shapes[i % len(shapes)]))
    time.sleep(3)
    early = [p["metadata"]["name"] for p in cl.pods(ns) if p["metadata"]["name"].startswith("during-")
             and p["spec"].get("nodeName")]
    check(not early, f"pods bound while the extender was down: {early}")
    cl.launch_extender()
    third = [f"after-{i:02d}" for i in range(10)]
    for i, n in enumerate(third):
        cl.create_pod(ns, cl.pod_spec(n, **shapes[i % len(shapes)]))
    cl.wait_bound(ns, first + second + third, 150)
    used = check_assignments(cl.pods(ns), nodes)
    log(f"40 pods placed across the restart; {len(used)} GPUs in use, none handed out twice")


def scenario_topology(cl):
    """Node topology drives the choice of node: with the fgd-topology profile, 4-GPU pods go to
    the node whose wiring (label gpusched.io/topology-preset=dgx-a100: NVSwitch, 300 GB/s between
    any two GPUs) joins them best, not to the PCIe-only node (25 GB/s) that kube-scheduler's own
    score prefers (a preferred node affinity on every pod). (With deploy's default profile, fgd,
    both empty nodes tie and the extender breaks the tie itself.) (Not DGX-1: its V100 quads are joined by single 25 GB/s NVLinks, no faster than PCIe 4.0 x16, and the
    scheduler rightly sees no difference.)"""
    ns = cl.namespace("e2e-topology")
    preset = "gpusched.io/topology-preset"
    nodes = {cl.node("nvlink-box", 8, labels={preset: "dgx-a100", "e2e/preferred": "no"}): 8,
             cl.node("pcie-box", 8, labels={preset: "pcie-8gpu", "e2e/preferred": "yes"}): 8}
    prefer_pcie = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [
            {"key": "e2e/preferred", "operator": "In", "values": ["yes"]}]}}]}}

    cl.kill_extender(signal.SIGTERM)
    with open(cl.ext_config) as f:
        cfg = f.read()
    cfg, n = re.subn(r"(?m)^(\s*)profile:\s*fgd\s*$", lambda m: f"{m.group(1)}profile: fgd-topology", cfg)
    check(n == 1, "deploy's extender.yaml has no 'profile: fgd' to replace")
    with open(cl.ext_config, "w") as f:
        f.write(cfg)
    cl.launch_extender()
    placed = []
    for i in range(2):
        name = f"allreduce-{i}"
        cl.create_pod(ns, cl.pod_spec(name, gpus=4, affinity=prefer_pcie))
        pod = cl.wait_bound(ns, [name], 60)[name]
        gpus = {d["index"] for d in assignment(pod)["gpus"]}
        check(pod["spec"]["nodeName"] == "nvlink-box",
              f"{name} (4 GPUs) bound to {pod['spec']['nodeName']}, not to the NVLink node")
        check(len(gpus) == 4, f"{name} got GPUs {sorted(gpus)} on nvlink-box")
        placed.append(f"{name}->nvlink-box{sorted(gpus)}")
    # The NVLink node is full: the next one goes to the PCIe node.
    cl.create_pod(ns, cl.pod_spec("allreduce-2", gpus=4, affinity=prefer_pcie))
    pod = cl.wait_bound(ns, ["allreduce-2"], 60)["allreduce-2"]
    check(pod["spec"]["nodeName"] == "pcie-box", f"allreduce-2 bound to {pod['spec']['nodeName']}")
    check_assignments(cl.pods(ns), nodes)
    log(f"topology: {', '.join(placed)}; allreduce-2->pcie-box once the NVLink node was full")


def measure(cl, ns, pods, threads=8):
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda p: cl.create_pod(ns, p), pods))
    created = time.time() - t0
    names = {p["metadata"]["name"] for p in pods}
    last = {}

    def done():
        t = time.time()
        for p in cl.pods(ns):
            if p["spec"].get("nodeName") and p["metadata"]["name"] not in last:
                last[p["metadata"]["name"]] = t
        return names <= set(last)
    cl.wait(done, 300, f"{len(pods)} pods in {ns} to be bound", interval=0.1)
    elapsed = max(last.values()) - t0
    return created, elapsed, len(pods) / elapsed


def scenario_throughput(cl):
    """200 GPU pods (whole and quarter GPUs) created at once are all placed without double
    allocation; pods/second with the extender in the loop, and kube-scheduler alone (the stock
    default-scheduler, no extender) on 200 CPU-only pods on the same nodes as a baseline."""
    nodes = {cl.node(f"tp-{i:02d}", 8): 8 for i in range(20)}
    ns = cl.namespace("e2e-rate")
    pods = []
    for i in range(200):
        shape = dict(gpus=1) if i % 2 == 0 else dict(milli=250, mem_gi=10)
        pods.append(cl.pod_spec(f"gpu-{i:03d}", **shape))
    created, elapsed, rate = measure(cl, ns, pods)
    used = check_assignments(cl.pods(ns), nodes)
    check(sum(u[0] for u in used.values()) == 100 * 1000 + 100 * 250, "not every GPU share is accounted for")
    log(f"RATE with the extender: 200 GPU pods bound in {elapsed:.2f} s = {rate:.1f} pods/s "
        f"(created in {created:.2f} s)")
    for p in pods:
        cl.force_delete_pod(ns, p["metadata"]["name"])
    cl.start_default_scheduler()
    ns2 = cl.namespace("e2e-rate-baseline")
    base = [cl.pod_spec(f"cpu-{i:03d}", scheduler="default-scheduler") for i in range(200)]
    created2, elapsed2, rate2 = measure(cl, ns2, base)
    log(f"RATE kube-scheduler alone: 200 CPU-only pods bound in {elapsed2:.2f} s = {rate2:.1f} pods/s "
        f"(created in {created2:.2f} s)")
    with open(os.path.join(cl.args.report_dir or cl.dir, "e2e-rate.txt"), "w") as f:
        f.write(f"with_extender_pods_per_s {rate:.1f}\nkube_scheduler_alone_pods_per_s {rate2:.1f}\n")


SCENARIOS = {
    "whole_gpu": scenario_whole_gpu,
    "policy_mixed": scenario_policy_mixed,
    "gang": scenario_gang,
    "failed_nodes_events": scenario_failed_nodes_events,
    "restart": scenario_restart,
    "topology": scenario_topology,
    "throughput": scenario_throughput,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    ap.add_argument("--extender", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--report-dir")
    args = ap.parse_args()
    script = os.path.join(args.repo, "scripts", "control-plane.sh")
    r = subprocess.run(["bash", script, "bin"], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        print("SKIP: no kube-apiserver/kube-scheduler 1.20.2 built on this machine "
              "(scripts/control-plane.sh build provides them; it needs scripts/install-deps.sh's "
              "golang-go, dpkg-dev and network access to Debian's sources)", flush=True)
        return SKIP
    if shutil.which("etcd") is None:
        print("SKIP: etcd is not installed (Debian package etcd-server, scripts/install-deps.sh)", flush=True)
        return SKIP

    def on_signal(signum, frame):
        raise Terminated(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    cl = Cluster(args)
    t0 = time.time()
    ok = False
    try:
        cl.start()
        log(f"control plane up in {time.time() - t0:.1f} s; scenario {args.scenario}")
        t1 = time.time()
        SCENARIOS[args.scenario](cl)
        log(f"PASS {args.scenario} in {time.time() - t1:.1f} s ({time.time() - t0:.1f} s with startup)")
        ok = True
    except Fail as e:
        print(f"FAIL {args.scenario}: {e}", flush=True)
    except Terminated as e:
        print(f"FAIL {args.scenario}: terminated ({e})", flush=True)
    except Exception:
        import traceback
        traceback.print_exc()
        print(f"FAIL {args.scenario}: unexpected error", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if not ok:
            cl.dump_logs()
        cl.stop()
        cl.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
