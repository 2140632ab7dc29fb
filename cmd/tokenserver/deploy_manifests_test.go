package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenserver/tokenserver/tokenserver/password"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serviceMonitor is the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1), which k8s.io/api does not have: the fields
// this repository uses, decoded strictly like the rest.
type serviceMonitor struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// decodeObject decodes m strictly into the k8s.io/api type of its kind
// (unknown fields and unknown kinds fail) and adds it to objs.
func decodeObject(t *testing.T, m manifest, objs *k8sObjects) {
	t.Helper()
	want := map[string]string{
		"Namespace": "v1", "ServiceAccount": "v1", "Service": "v1",
		"Deployment": "apps/v1", "Job": "batch/v1", "PodDisruptionBudget": "policy/v1",
		"HorizontalPodAutoscaler": "autoscaling/v2", "NetworkPolicy": "networking.k8s.io/v1",
		"ServiceMonitor": "monitoring.coreos.com/v1",
	}[m.kind]
	if want == "" {
		t.Errorf("%s: kind %q: this test knows no type for it", m.where, m.kind)
		return
	}
	if m.apiVersion != want {
		t.Errorf("%s: %s apiVersion %q, want %q", m.where, m.kind, m.apiVersion, want)
	}
	decode := func(v any) bool {
		if err := decodeStrict(m.json, v); err != nil {
			t.Errorf("%s: %s: %v", m.where, m.kind, err)
			return false
		}
		return true
	}
	objs.all = append(objs.all, m)
	switch m.kind {
	case "Namespace":
		decodeAppend(decode, &objs.namespaces)
	case "ServiceAccount":
		decodeAppend(decode, &objs.serviceAccounts)
	case "Service":
		decodeAppend(decode, &objs.services)
	case "Deployment":
		decodeAppend(decode, &objs.deployments)
	case "Job":
		decodeAppend(decode, &objs.jobs)
	case "PodDisruptionBudget":
		decodeAppend(decode, &objs.pdbs)
	case "HorizontalPodAutoscaler":
		decodeAppend(decode, &objs.hpas)
	case "NetworkPolicy":
		decodeAppend(decode, &objs.networkPolicies)
	case "ServiceMonitor":
		decodeAppend(decode, &objs.serviceMonitors)
	}
}

func decodeAppend[T any](decode func(any) bool, into *[]T) {
	var v T
	if decode(&v) {
		*into = append(*into, v)
	}
}

// podTemplate is a pod template and where it is.
type podTemplate struct {
	where  string
	labels map[string]string
	spec   corev1.PodSpec
}

func (o *k8sObjects) podTemplates() []podTemplate {
	var out []podTemplate
	for _, d := range o.deployments {
		out = append(out, podTemplate{"Deployment " + d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, j := range o.jobs {
		out = append(out, podTemplate{"Job " + j.Name, j.Spec.Template.Labels, j.Spec.Template.Spec})
	}
	return out
}

// TestKubernetesManifests decodes every object of deploy/kubernetes
// strictly into the k8s.io/api types and checks them: the Pod Security
// "restricted" profile, probes and the shutdown sequence, settings the
// server has, resources that hold the hashing slots, and the objects'
// references to each other. The production overlay is read as kustomize
// would (without applying patches); where kubectl is installed, its own
// rendering of the overlay is checked the same way.
func TestKubernetesManifests(t *testing.T) {
	known := map[string]settings{"serve": commandSettings(t, "serve"), "migrate": commandSettings(t, "migrate")}

	k := &kustomized{used: map[string]bool{}}
	overlay := filepath.Join(kubernetesDir, "overlays", "production")
	loadKustomization(t, overlay, k)
	if unused := unusedFiles(t, k.used); len(unused) > 0 {
		t.Errorf("files no kustomization uses: %v", unused)
	}
	t.Run("files", func(t *testing.T) {
		var objs k8sObjects
		for _, m := range k.objects {
			decodeObject(t, m, &objs)
		}
		checkObjects(t, &objs, known)
	})

	t.Run("kubectl kustomize", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			// Not a skip: the files were checked above; this only adds
			// kustomize's own rendering where it is installed.
			t.Log("kubectl not installed: the overlay was checked without rendering it")
			return
		}
		out, err := exec.Command(kubectl, "kustomize", overlay).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", overlay, err, out)
		}
		var objs k8sObjects
		for i, j := range splitYAML(t, "kubectl kustomize", out) {
			m := renderedManifest(t, j)
			m.where = "rendered #" + strconv.Itoa(i)
			decodeObject(t, m, &objs)
		}
		checkObjects(t, &objs, known)
		// The overlay's image and patches were applied.
		for _, img := range k.images {
			want := img.NewName + ":" + img.NewTag
			for _, p := range objs.podTemplates() {
				for _, c := range p.spec.Containers {
					if c.Image != want {
						t.Errorf("rendered %s: image %q, want %q", p.where, c.Image, want)
					}
				}
			}
		}
		for _, m := range objs.all {
			if m.kind != "Namespace" && m.namespace == "" {
				t.Errorf("rendered %s %s has no namespace", m.kind, m.name)
			}
		}
	})
}

func renderedManifest(t *testing.T, j []byte) manifest {
	t.Helper()
	var head struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(j, &head); err != nil {
		t.Errorf("rendered: %v", err)
	}
	return manifest{apiVersion: head.APIVersion, kind: head.Kind, name: head.Metadata.Name, namespace: head.Metadata.Namespace, json: j}
}

// checkObjects runs every check on one set of objects.
func checkObjects(t *testing.T, objs *k8sObjects, known map[string]settings) {
	if len(objs.deployments) != 1 || len(objs.jobs) != 1 {
		t.Fatalf("want one Deployment and one Job, got %d and %d", len(objs.deployments), len(objs.jobs))
	}
	t.Run("pod security restricted", func(t *testing.T) {
		for _, p := range objs.podTemplates() {
			checkRestricted(t, p)
		}
	})
	t.Run("probes and drain", func(t *testing.T) { checkProbesAndDrain(t, objs) })
	t.Run("settings exist", func(t *testing.T) { checkSettings(t, objs, known) })
	t.Run("resources hold the hashing slots", func(t *testing.T) { checkResources(t, objs) })
	t.Run("objects wired", func(t *testing.T) { checkWiring(t, objs) })
}

// checkRestricted checks the Pod Security Standards' "restricted" profile
// (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
// on a pod template, plus what this repository adds: a read-only root
// file system, the image's numeric user and group, no service account
// token, no service links.
func checkRestricted(t *testing.T, p podTemplate) {
	t.Helper()
	spec, psc := p.spec, p.spec.SecurityContext
	bad := func(format string, a ...any) { t.Errorf(p.where+": "+format, a...) }
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		bad("host namespaces are forbidden")
	}
	if psc == nil {
		bad("no pod securityContext")
		psc = &corev1.PodSecurityContext{}
	}
	if len(psc.Sysctls) > 0 {
		bad("sysctls %v", psc.Sysctls)
	}
	if psc.SELinuxOptions != nil && (psc.SELinuxOptions.User != "" || psc.SELinuxOptions.Role != "") {
		bad("custom SELinux user or role")
	}
	if psc.AppArmorProfile != nil && psc.AppArmorProfile.Type == corev1.AppArmorProfileTypeUnconfined {
		bad("AppArmor Unconfined")
	}
	if psc.WindowsOptions != nil && psc.WindowsOptions.HostProcess != nil && *psc.WindowsOptions.HostProcess {
		bad("Windows hostProcess")
	}
	for _, v := range spec.Volumes {
		vs := v.VolumeSource
		if vs.ConfigMap == nil && vs.CSI == nil && vs.DownwardAPI == nil && vs.EmptyDir == nil && vs.Ephemeral == nil &&
			vs.PersistentVolumeClaim == nil && vs.Projected == nil && vs.Secret == nil {
			bad("volume %s is of a type the restricted profile forbids", v.Name)
		}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		bad("automountServiceAccountToken must be false: the server never calls the Kubernetes API")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		bad("enableServiceLinks must be false: a Service named tokenserver injects TOKENSERVER_* variables")
	}
	var all []corev1.Container
	all = append(all, spec.InitContainers...)
	all = append(all, spec.Containers...)
	for _, c := range all {
		sc := c.SecurityContext
		if sc == nil {
			bad("container %s: no securityContext", c.Name)
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			bad("container %s: privileged", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("container %s: allowPrivilegeEscalation must be false", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("container %s: capabilities must drop ALL", c.Name)
		} else if len(sc.Capabilities.Add) > 0 {
			bad("container %s: adds capabilities %v (none needed; only NET_BIND_SERVICE would be allowed)", c.Name, sc.Capabilities.Add)
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil {
			nonRoot = psc.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			bad("container %s: runAsNonRoot must be true", c.Name)
		}
		user, group := sc.RunAsUser, sc.RunAsGroup
		if user == nil {
			user = psc.RunAsUser
		}
		if group == nil {
			group = psc.RunAsGroup
		}
		// Numeric, so the kubelet can check runAsNonRoot whatever the image
		// says, and the image's own user (deploy/Dockerfile).
		if user == nil || *user != 65532 || group == nil || *group != 65532 {
			bad("container %s: runAsUser/runAsGroup must be 65532 (the image's nonroot user)", c.Name)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			bad("container %s: seccompProfile must be RuntimeDefault or Localhost", c.Name)
		}
		if sc.ProcMount != nil && *sc.ProcMount != corev1.DefaultProcMount {
			bad("container %s: procMount %s", c.Name, *sc.ProcMount)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("container %s: readOnlyRootFilesystem must be true", c.Name)
		}
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				bad("container %s: hostPort %d", c.Name, port.HostPort)
			}
		}
	}
}

// serverContainer returns the Deployment's tokenserver container.
func serverContainer(t *testing.T, objs *k8sObjects) corev1.Container {
	t.Helper()
	cs := objs.deployments[0].Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment: %d containers, want 1", len(cs))
	}
	return cs[0]
}

// envValue returns a container's literal variable, or "" when not set.
func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func envDuration(t *testing.T, c corev1.Container, name string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(envValue(c, name))
	if err != nil {
		t.Fatalf("container %s: %s: %v (set it explicitly, the shutdown arithmetic depends on it)", c.Name, name, err)
	}
	return d
}

// portNumber resolves a probe's or a Service's target port against c.
func portNumber(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// checkProbesAndDrain: startup and liveness on /healthz, readiness on
// /readyz, all on the token port; preStop sleeps as long as the drain
// delay; the grace period outlasts preStop + drain + shutdown.
func checkProbesAndDrain(t *testing.T, objs *k8sObjects) {
	c := serverContainer(t, objs)
	_, addrPort, _ := strings.Cut(envValue(c, "TOKENSERVER_ADDR"), ":")
	for _, pr := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/healthz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", pr.name, pr.path)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s on %s, want %s", pr.name, pr.probe.HTTPGet.Path, pr.path)
		}
		if got := portNumber(c, pr.probe.HTTPGet.Port); strconv.Itoa(int(got)) != addrPort {
			t.Errorf("%s on port %d, want the token port %s (TOKENSERVER_ADDR)", pr.name, got, addrPort)
		}
	}
	drain := envDuration(t, c, "TOKENSERVER_DRAIN_DELAY")
	shutdown := envDuration(t, c, "TOKENSERVER_SHUTDOWN_TIMEOUT")
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("no preStop sleep action (exec sleep cannot work: distroless has no shell)")
	}
	if c.Lifecycle.PreStop.Exec != nil {
		t.Errorf("preStop exec: the image has no shell or sleep binary")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if preStop != drain {
		t.Errorf("preStop sleeps %s, want the drain delay %s", preStop, drain)
	}
	gp := objs.deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds
	if gp == nil || time.Duration(*gp)*time.Second <= preStop+drain+shutdown {
		t.Errorf("terminationGracePeriodSeconds %s must exceed preStop %s + drain %s + shutdown %s",
			ptrString(gp), preStop, drain, shutdown)
	}
}

// checkSettings: every container runs a tokenserver command with flags it
// has, sets only variables the server reads, and takes the secrets from a
// Secret by name (no envFrom, so every variable is visible here).
func checkSettings(t *testing.T, objs *k8sObjects, known map[string]settings) {
	// The settings that must come from a Secret, never a literal.
	secretEnv := []string{"DATABASE_URL", "REDIS_URL", "TOKENSERVER_KEK"}
	for _, p := range objs.podTemplates() {
		for _, c := range append(slices.Clone(p.spec.InitContainers), p.spec.Containers...) {
			where := p.where + " container " + c.Name
			if len(c.Command) > 0 {
				t.Errorf("%s: command %q replaces the image's entrypoint; use args", where, c.Command)
			}
			s := checkArgs(t, where+" args", c.Args, known)
			if len(c.EnvFrom) > 0 {
				t.Errorf("%s: envFrom hides which settings are set; name each variable", where)
			}
			for _, e := range c.Env {
				checkEnv(t, where, e.Name, s)
				if slices.Contains(secretEnv, e.Name) {
					ref := (*corev1.SecretKeySelector)(nil)
					if e.ValueFrom != nil {
						ref = e.ValueFrom.SecretKeyRef
					}
					if e.Value != "" || ref == nil || ref.Key != e.Name {
						t.Errorf("%s: %s must come from a secretKeyRef with key %s", where, e.Name, e.Name)
					}
				}
			}
		}
	}
	need := map[string][]string{"Deployment": secretEnv, "Job": {"DATABASE_URL"}}
	for _, p := range objs.podTemplates() {
		kind, _, _ := strings.Cut(p.where, " ")
		for _, name := range need[kind] {
			found := false
			for _, e := range p.spec.Containers[0].Env {
				found = found || e.Name == name
			}
			if !found {
				t.Errorf("%s: %s is not set", p.where, name)
			}
		}
	}
	if args := objs.jobs[0].Spec.Template.Spec.Containers[0].Args; len(args) == 0 || args[0] != "migrate" {
		t.Errorf("Job args %q: the migration Job runs `tokenserver migrate`", args)
	}
	if args := serverContainer(t, objs).Args; len(args) == 0 || args[0] != "serve" {
		t.Errorf("Deployment args %q: want serve", args)
	}
}

// checkResources: the memory limit holds as many hashing slots as the CPU
// limit gives (so memory never silently caps them), computed with the same
// function and constants serve uses.
func checkResources(t *testing.T, objs *k8sObjects) {
	for _, p := range objs.podTemplates() {
		for _, c := range p.spec.Containers {
			if c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("%s container %s: want a memory limit and a CPU request", p.where, c.Name)
			}
		}
	}
	c := serverContainer(t, objs)
	cpuLimit, memLimit := c.Resources.Limits.Cpu(), c.Resources.Limits.Memory()
	if cpuLimit.IsZero() {
		t.Fatalf("no CPU limit: GOMAXPROCS, and with it the hashing slots, would follow the node's core count")
	}
	// Go ≥ 1.25: GOMAXPROCS = max(2, ceil(CPU limit)) on a node with that many cores.
	procs := max(2, int(math.Ceil(cpuLimit.AsApproximateFloat64())))
	limit := password.MemoryLimit{Bytes: memLimit.Value(), Source: "cgroup v2 memory.max"}
	if v := envValue(c, "GOMEMLIMIT"); v != "" {
		n, err := password.ParseGOMEMLIMIT(v)
		if err != nil {
			t.Fatalf("GOMEMLIMIT: %v", err)
		}
		if n >= limit.Bytes {
			t.Errorf("GOMEMLIMIT %s is not below the memory limit %s: the GC would not act before the OOM killer", v, memLimit)
		}
		limit = password.MemoryLimit{Bytes: min(n, limit.Bytes), Source: "GOMEMLIMIT"}
	}
	slots := password.DeriveSlots(procs, limit, password.OWASP().Memory)
	want := procs
	if v := envValue(c, "TOKENSERVER_HASH_CONCURRENCY"); v != "" {
		want, _ = strconv.Atoi(v)
	}
	if slots.MemorySlots < want {
		t.Errorf("memory %s (effective %d MiB) holds %d hashing slots, want %d (CPU limit %s): give it %d MiB",
			memLimit, limit.Bytes>>20, slots.MemorySlots, want, cpuLimit,
			(password.SlotHeadroomBytes+int64(want)*slots.PerSlot)>>20)
	}
	if req := c.Resources.Requests.Memory(); req.Cmp(*memLimit) != 0 {
		t.Logf("memory request %s below the limit %s: the pod is not Guaranteed", req, memLimit)
	}
}

// selects reports whether every key of sel is in labels with its value.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false // an empty selector selects everything: never meant here
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkWiring: the objects point at each other as intended.
func checkWiring(t *testing.T, objs *k8sObjects) {
	d, job := objs.deployments[0], objs.jobs[0]
	pods, jobPods := d.Spec.Template.Labels, job.Spec.Template.Labels
	c := serverContainer(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("Deployment replicas %v, want 3", d.Spec.Replicas)
	}
	if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, pods) {
		t.Errorf("Deployment selector does not select its pods")
	}
	var keys []string
	for _, tsc := range d.Spec.Template.Spec.TopologySpreadConstraints {
		keys = append(keys, tsc.TopologyKey)
		if tsc.LabelSelector == nil || !selects(tsc.LabelSelector.MatchLabels, pods) {
			t.Errorf("topology spread on %s does not select the Deployment's pods", tsc.TopologyKey)
		}
	}
	for _, k := range []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"} {
		if !slices.Contains(keys, k) {
			t.Errorf("no topology spread across %s", k)
		}
	}

	if len(objs.namespaces) != 1 || objs.namespaces[0].Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("want one Namespace enforcing the restricted Pod Security profile")
	} else {
		for _, m := range objs.all {
			if m.kind != "Namespace" && m.namespace != objs.namespaces[0].Name {
				t.Errorf("%s %s: namespace %q, want %q", m.kind, m.name, m.namespace, objs.namespaces[0].Name)
			}
		}
	}
	for _, p := range objs.podTemplates() {
		found := false
		for _, sa := range objs.serviceAccounts {
			if sa.Name == p.spec.ServiceAccountName {
				found = true
				if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
					t.Errorf("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
				}
			}
		}
		if !found {
			t.Errorf("%s: serviceAccountName %q is not defined here", p.where, p.spec.ServiceAccountName)
		}
	}

	services := map[string]corev1.Service{}
	for _, s := range objs.services {
		services[s.Name] = s
		if !selects(s.Spec.Selector, pods) {
			t.Errorf("Service %s does not select the Deployment's pods", s.Name)
		}
		if selects(s.Spec.Selector, jobPods) {
			t.Errorf("Service %s selects the migration Job's pod", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if portNumber(c, p.TargetPort) == 0 {
				t.Errorf("Service %s port %s: target %s is no container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	public, ok := services["tokenserver"]
	if !ok || len(public.Spec.Ports) != 1 || portNumber(c, public.Spec.Ports[0].TargetPort) != 8080 {
		t.Errorf("Service tokenserver must expose the token port 8080 and nothing else")
	}
	metricsService := ""
	for name, s := range services {
		for _, p := range s.Spec.Ports {
			if p.Name == "metrics" && portNumber(c, p.TargetPort) == 9090 {
				metricsService = name
			}
		}
	}
	if metricsService == "" {
		t.Errorf("no Service has a port named metrics on 9090")
	}
	for _, sm := range objs.serviceMonitors {
		s := services[metricsService]
		if !selects(sm.Spec.Selector.MatchLabels, s.Labels) {
			t.Errorf("ServiceMonitor %s does not select Service %s", sm.Metadata.Name, metricsService)
		}
		for name, other := range services {
			if name != metricsService && selects(sm.Spec.Selector.MatchLabels, other.Labels) {
				t.Errorf("ServiceMonitor %s also selects Service %s", sm.Metadata.Name, name)
			}
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("ServiceMonitor %s has no endpoints", sm.Metadata.Name)
		}
		for _, e := range sm.Spec.Endpoints {
			if e.Port != "metrics" || (e.Path != "" && e.Path != "/metrics") {
				t.Errorf("ServiceMonitor %s endpoint %+v, want port metrics, path /metrics", sm.Metadata.Name, e)
			}
			iv, err1 := time.ParseDuration(e.Interval)
			st, err2 := time.ParseDuration(e.ScrapeTimeout)
			if err1 != nil || err2 != nil || st > iv {
				t.Errorf("ServiceMonitor %s: interval %q, scrapeTimeout %q: want durations, timeout ≤ interval", sm.Metadata.Name, e.Interval, e.ScrapeTimeout)
			}
		}
	}

	if len(objs.pdbs) != 1 {
		t.Errorf("want one PodDisruptionBudget, got %d", len(objs.pdbs))
	}
	for _, pdb := range objs.pdbs {
		if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, pods) || selects(pdb.Spec.Selector.MatchLabels, jobPods) {
			t.Errorf("PodDisruptionBudget %s must select the Deployment's pods only", pdb.Name)
		}
		if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
			t.Errorf("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", pdb.Name)
		}
	}

	if len(objs.hpas) != 1 {
		t.Fatalf("want one HorizontalPodAutoscaler, got %d", len(objs.hpas))
	}
	hpa := objs.hpas[0]
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v, want the Deployment %s", ref, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < *d.Spec.Replicas || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %v..%d: want at least the Deployment's %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, *d.Spec.Replicas)
	}
	cpu := false
	for _, m := range hpa.Spec.Metrics {
		cpu = cpu || (m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil)
	}
	if !cpu {
		t.Errorf("HPA does not scale on CPU utilization")
	}

	checkNetworkPolicy(t, objs, pods, jobPods)
}

// checkNetworkPolicy: the token port open to all, the metrics port only to
// the monitoring namespace, egress only to DNS, PostgreSQL and Redis.
func checkNetworkPolicy(t *testing.T, objs *k8sObjects, pods, jobPods map[string]string) {
	if len(objs.networkPolicies) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(objs.networkPolicies))
	}
	np := objs.networkPolicies[0]
	if !selects(np.Spec.PodSelector.MatchLabels, pods) || !selects(np.Spec.PodSelector.MatchLabels, jobPods) {
		t.Errorf("NetworkPolicy must select the server's and the migration Job's pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, "Ingress") || !slices.Contains(np.Spec.PolicyTypes, "Egress") {
		t.Errorf("NetworkPolicy policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	openToAll, metricsFrom := false, false
	for _, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("an ingress rule without ports opens every port")
		}
		for _, p := range r.Ports {
			switch {
			case p.Port == nil:
				t.Errorf("an ingress port without a number opens every port")
			case p.Port.IntValue() == 8080:
				openToAll = openToAll || len(r.From) == 0
			case p.Port.IntValue() == 9090:
				if len(r.From) == 0 {
					t.Errorf("the metrics port is open to everyone")
				}
				for _, f := range r.From {
					if f.NamespaceSelector == nil || f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" || f.IPBlock != nil {
						t.Errorf("the metrics port admits %+v, want only the monitoring namespace", f)
					} else {
						metricsFrom = true
					}
				}
			default:
				t.Errorf("ingress opens port %s", p.Port.String())
			}
		}
	}
	if !openToAll || !metricsFrom {
		t.Errorf("ingress: token port from anywhere %v, metrics from monitoring %v; want both", openToAll, metricsFrom)
	}
	egress := map[string]bool{}
	for _, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("an egress rule without ports allows everything")
		}
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if p.Port != nil {
				egress[string(proto)+"/"+p.Port.String()] = true
			}
		}
	}
	want := []string{"UDP/53", "TCP/53", "TCP/5432", "TCP/6379", "TCP/26379"}
	var got []string
	for k := range egress {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("egress ports %v, want exactly %v (DNS, PostgreSQL, Redis, Sentinel)", got, want)
	}
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
