package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests is every object of deploy/k8s, decoded strictly into its
// typed Kubernetes API object.
type manifests struct {
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	services     []*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
}

// loadManifests decodes every YAML document of deploy/k8s/*.yaml: the
// kind picks the type, and an unknown field (a typo, a field at the wrong
// level) is an error, as is an unexpected kind or API version.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("k8s", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no manifests in deploy/k8s")
	}
	var m manifests
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocs(data) {
			where := fmt.Sprintf("%s (document %d)", f, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				m.statefulSets = append(m.statefulSets, decode[appsv1.StatefulSet](t, where, doc))
			case "apps/v1 Deployment":
				m.deployments = append(m.deployments, decode[appsv1.Deployment](t, where, doc))
			case "v1 Service":
				m.services = append(m.services, decode[corev1.Service](t, where, doc))
			case "policy/v1 PodDisruptionBudget":
				m.pdbs = append(m.pdbs, decode[policyv1.PodDisruptionBudget](t, where, doc))
			default:
				t.Fatalf("%s: unexpected apiVersion %q kind %q", where, tm.APIVersion, tm.Kind)
			}
		}
	}
	return m
}

// decode unmarshals doc strictly, as the API server does: YAML to JSON
// refusing duplicate keys (sigs.k8s.io/yaml), then JSON into the type with
// field names matched case-sensitively and unknown or duplicate fields
// reported (sigs.k8s.io/json). sigs.k8s.io/yaml.UnmarshalStrict alone
// matches field names without regard to case (encoding/json), so it would
// take "clusterIp" for clusterIP.
func decode[T any](t *testing.T, where string, doc []byte) *T {
	t.Helper()
	v, err := decodeStrict[T](doc)
	if err != nil {
		t.Fatalf("%s: strict decoding: %v", where, err)
	}
	return v
}

func decodeStrict[T any](doc []byte) (*T, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	v := new(T)
	strict, err := sigsjson.UnmarshalStrict(j, v)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return v, nil
}

// splitDocs splits a YAML stream on "---" lines, dropping empty documents.
func splitDocs(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(stripComments(cur.Bytes()))) > 0 {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if s := strings.TrimRight(string(line), " \t\r\n"); s == "---" || strings.HasPrefix(s, "--- ") {
			flush()
			continue
		}
		cur.Write(line)
	}
	flush()
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

func (m manifests) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %q in deploy/k8s", name)
	return nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	if len(m.statefulSets) != 1 || len(m.deployments) != 1 || len(m.services) != 2 || len(m.pdbs) != 1 {
		t.Fatalf("want 1 StatefulSet, 1 Deployment, 2 Services, 1 PodDisruptionBudget; have %d, %d, %d, %d",
			len(m.statefulSets), len(m.deployments), len(m.services), len(m.pdbs))
	}
}

// TestStrictDecodingCatchesTypos makes sure the decoding of the tests
// above notices a misspelled, misplaced, wrongly cased or repeated field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterAddress: None\n",
		"wrong level":   "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nclusterIP: None\n",
		"wrong case":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIp: None\n",
		"duplicate key": "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  name: y\n",
	} {
		if _, err := decodeStrict[corev1.Service]([]byte(doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
	if _, err := decodeStrict[corev1.Service]([]byte("apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIP: None\n")); err != nil {
		t.Errorf("a correct Service refused: %v", err)
	}
}

// TestNodeStatefulSet checks the qs-node StatefulSet against its headless
// Service, its PodDisruptionBudget and the qs-node flags.
func TestNodeStatefulSet(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[0]
	if sts.Name != "qs-node" {
		t.Fatalf("StatefulSet %q, want qs-node", sts.Name)
	}
	tmpl := sts.Spec.Template
	checkSelector(t, "StatefulSet "+sts.Name, sts.Spec.Selector, tmpl.Labels)
	replicas := int32(1)
	if sts.Spec.Replicas != nil {
		replicas = *sts.Spec.Replicas
	}
	if replicas != 3 {
		t.Errorf("replicas %d, want 3", replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: the bootstrap nodes must start together (Parallel)", sts.Spec.PodManagementPolicy)
	}

	// The headless Service: stable pod names, published before ready.
	svc := m.service(t, sts.Spec.ServiceName)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless)", svc.Name, svc.Spec.ClusterIP)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: publishNotReadyAddresses must be true (peers dial nodes before they are ready)", svc.Name)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selector %v does not select the StatefulSet's pods %v", svc.Name, svc.Spec.Selector, tmpl.Labels)
	}

	c := onlyContainer(t, "StatefulSet "+sts.Name, tmpl.Spec)
	if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
		t.Errorf("image %q: want a pinned tag", c.Image)
	}
	if len(c.Command) == 0 || c.Command[0] != "/qs-node" {
		t.Errorf("command %v, want /qs-node", c.Command)
	}
	ports := containerPorts(t, c)
	env := envMap(c)
	checkListenPort(t, c, env, "QS_TRANSPORT", ports, "transport", corev1.ProtocolTCP)
	checkListenPort(t, c, env, "QS_GOSSIP", ports, "gossip", corev1.ProtocolTCP)
	checkListenPort(t, c, env, "QS_GOSSIP", ports, "gossip-udp", corev1.ProtocolUDP)
	checkListenPort(t, c, env, "QS_HTTP", ports, "http", corev1.ProtocolTCP)
	checkServicePorts(t, svc, ports)
	checkProbes(t, c, ports, "http")
	checkSecurity(t, "StatefulSet "+sts.Name, tmpl.Spec, c)

	// Identity: id = pod index + 1 (TODO in cmd/node: -id-from-index),
	// the advertised address is the pod IP (gossip wants an IP).
	checkFieldRef(t, c, "QS_ID_FROM_INDEX", "metadata.labels['apps.kubernetes.io/pod-index']")
	checkFieldRef(t, c, "QS_ADVERTISE", "status.podIP")
	if _, ok := env["QS_ID"]; ok {
		t.Error("QS_ID is set: every pod would get the same id")
	}
	var want []string
	var seeds []string
	gossipPort := ports["gossip"].ContainerPort
	for i := range replicas {
		want = append(want, strconv.Itoa(int(i)+1))
		seeds = append(seeds, net.JoinHostPort(fmt.Sprintf("%s-%d.%s", sts.Name, i, svc.Name), strconv.Itoa(int(gossipPort))))
	}
	if got := envValue(t, env, "QS_BOOTSTRAP"); got != strings.Join(want, ",") {
		t.Errorf("QS_BOOTSTRAP %q, want %q (ids = pod index + 1)", got, strings.Join(want, ","))
	}
	if got := envValue(t, env, "QS_SEEDS"); got != strings.Join(seeds, ",") {
		t.Errorf("QS_SEEDS %q, want %q", got, strings.Join(seeds, ","))
	}

	// Data: the volume claim template mounted where -data points.
	dataDir := envValue(t, env, "QS_DATA")
	var mounted string
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dataDir {
			mounted = vm.Name
		}
	}
	if mounted == "" {
		t.Fatalf("nothing mounted at QS_DATA %q", dataDir)
	}
	found := false
	for _, pvc := range sts.Spec.VolumeClaimTemplates {
		if pvc.Name == mounted {
			found = true
			if _, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				t.Errorf("volumeClaimTemplate %s requests no storage", pvc.Name)
			}
		}
	}
	if !found {
		t.Errorf("volume %q at %s is not a volumeClaimTemplate", mounted, dataDir)
	}
	if tmpl.Spec.SecurityContext == nil || tmpl.Spec.SecurityContext.FSGroup == nil {
		t.Error("no fsGroup: the non-root node cannot write its volume")
	}

	// The PodDisruptionBudget: one node at a time, the nodes only.
	pdb := m.pdbs[0]
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget %s: want maxUnavailable 1 alone, have maxUnavailable %v minAvailable %v", pdb.Name, pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	sel := checkSelector(t, "PodDisruptionBudget "+pdb.Name, pdb.Spec.Selector, tmpl.Labels)
	for _, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("PodDisruptionBudget %s also selects Deployment %s's pods", pdb.Name, d.Name)
		}
	}
}

// TestFrontendDeployment checks the qs-frontend Deployment against its
// Service and the qs-frontend flags.
func TestFrontendDeployment(t *testing.T) {
	m := loadManifests(t)
	d := m.deployments[0]
	if d.Name != "qs-frontend" {
		t.Fatalf("Deployment %q, want qs-frontend", d.Name)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	tmpl := d.Spec.Template
	checkSelector(t, "Deployment "+d.Name, d.Spec.Selector, tmpl.Labels)
	c := onlyContainer(t, "Deployment "+d.Name, tmpl.Spec)
	if len(c.Command) == 0 || c.Command[0] != "/qs-frontend" {
		t.Errorf("command %v, want /qs-frontend", c.Command)
	}
	ports := containerPorts(t, c)
	env := envMap(c)
	checkListenPort(t, c, env, "QS_TRANSPORT", ports, "transport", corev1.ProtocolTCP)
	checkListenPort(t, c, env, "QS_GOSSIP", ports, "gossip", corev1.ProtocolTCP)
	checkListenPort(t, c, env, "QS_GOSSIP", ports, "gossip-udp", corev1.ProtocolUDP)
	checkListenPort(t, c, env, "QS_HTTP", ports, "http", corev1.ProtocolTCP)
	checkProbes(t, c, ports, "http")
	checkSecurity(t, "Deployment "+d.Name, tmpl.Spec, c)
	// Each replica its own id (TODO in cmd/frontend: -id-from-ip).
	if _, ok := env["QS_ID"]; ok {
		t.Error("QS_ID is set: both replicas would get the same id")
	}
	checkFieldRef(t, c, "QS_ID_FROM_IP", "status.podIP")
	checkFieldRef(t, c, "QS_ADVERTISE", "status.podIP")
	if envValue(t, env, "QS_SEEDS") == "" {
		t.Error("QS_SEEDS is empty")
	}

	// The node and front-end ports may not clash with the nodes' in the
	// seeds: the seeds name the nodes' gossip port.
	sts := m.statefulSets[0]
	nodePorts := containerPorts(t, onlyContainer(t, "StatefulSet", sts.Spec.Template.Spec))
	for _, s := range strings.Split(envValue(t, env, "QS_SEEDS"), ",") {
		_, p, err := net.SplitHostPort(s)
		if err != nil || p != strconv.Itoa(int(nodePorts["gossip"].ContainerPort)) {
			t.Errorf("front end seed %q: want the nodes' gossip port %d", s, nodePorts["gossip"].ContainerPort)
		}
	}
	if got, want := envValue(t, env, "QS_LABEL"), envValue(t, envMap(onlyContainer(t, "StatefulSet", sts.Spec.Template.Spec)), "QS_LABEL"); got != want {
		t.Errorf("front end QS_LABEL %q, nodes %q: gossip refuses another label", got, want)
	}

	svc := m.service(t, d.Name)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("Service %s is headless: want a ClusterIP in front of the replicas", svc.Name)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
		t.Errorf("Service %s selector %v does not select the Deployment's pods %v", svc.Name, svc.Spec.Selector, tmpl.Labels)
	}
	if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("Service %s also selects the nodes", svc.Name)
	}
	checkServicePorts(t, svc, ports)
}

// checkSelector: the selector is non-empty and matches the pod template's
// labels.
func checkSelector(t *testing.T, what string, ls *metav1.LabelSelector, podLabels map[string]string) labels.Selector {
	t.Helper()
	if ls == nil {
		t.Fatalf("%s: no selector", what)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatalf("%s: selector: %v", what, err)
	}
	if sel.Empty() {
		t.Fatalf("%s: empty selector selects everything", what)
	}
	if !sel.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: selector %s does not match the pod template's labels %v", what, sel, podLabels)
	}
	return sel
}

func onlyContainer(t *testing.T, what string, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", what, len(spec.Containers))
	}
	return spec.Containers[0]
}

func containerPorts(t *testing.T, c corev1.Container) map[string]corev1.ContainerPort {
	t.Helper()
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		if p.Name == "" {
			t.Errorf("container %s: port %d has no name", c.Name, p.ContainerPort)
		}
		if _, dup := ports[p.Name]; dup {
			t.Errorf("container %s: port name %q twice", c.Name, p.Name)
		}
		ports[p.Name] = p
	}
	return ports
}

func envMap(c corev1.Container) map[string]corev1.EnvVar {
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	return env
}

func envValue(t *testing.T, env map[string]corev1.EnvVar, name string) string {
	t.Helper()
	e, ok := env[name]
	if !ok {
		t.Fatalf("%s is not set", name)
	}
	if e.ValueFrom != nil {
		t.Fatalf("%s is not a literal value", name)
	}
	return e.Value
}

// checkListenPort: the flag's QS_* twin listens on all interfaces at the
// named container port, which has the protocol.
func checkListenPort(t *testing.T, c corev1.Container, env map[string]corev1.EnvVar, name string, ports map[string]corev1.ContainerPort, portName string, proto corev1.Protocol) {
	t.Helper()
	v := envValue(t, env, name)
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("container %s: %s=%q: %v", c.Name, name, v, err)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("container %s: %s=%q listens on %q only: the pod IP must be reachable", c.Name, name, v, host)
	}
	p, ok := ports[portName]
	if !ok {
		t.Fatalf("container %s: no port named %q for %s", c.Name, portName, name)
	}
	if strconv.Itoa(int(p.ContainerPort)) != port {
		t.Errorf("container %s: port %s is %d, %s=%q", c.Name, portName, p.ContainerPort, name, v)
	}
	if got := cmpProto(p.Protocol); got != proto {
		t.Errorf("container %s: port %s protocol %s, want %s", c.Name, portName, got, proto)
	}
}

func cmpProto(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// checkServicePorts: every Service port targets a container port of the
// same number and protocol.
func checkServicePorts(t *testing.T, svc *corev1.Service, ports map[string]corev1.ContainerPort) {
	t.Helper()
	if len(svc.Spec.Ports) == 0 {
		t.Errorf("Service %s has no ports", svc.Name)
	}
	for _, sp := range svc.Spec.Ports {
		var cp corev1.ContainerPort
		var ok bool
		if sp.TargetPort.StrVal != "" {
			cp, ok = ports[sp.TargetPort.StrVal]
		} else {
			target := sp.TargetPort.IntVal
			if target == 0 {
				target = sp.Port
			}
			for _, p := range ports {
				if p.ContainerPort == target && cmpProto(p.Protocol) == cmpProto(sp.Protocol) {
					cp, ok = p, true
				}
			}
		}
		if !ok {
			t.Errorf("Service %s port %s targets %s: no such container port", svc.Name, sp.Name, sp.TargetPort.String())
			continue
		}
		if cmpProto(cp.Protocol) != cmpProto(sp.Protocol) {
			t.Errorf("Service %s port %s: protocol %s, container port %s is %s", svc.Name, sp.Name, cmpProto(sp.Protocol), cp.Name, cmpProto(cp.Protocol))
		}
		if sp.Port != cp.ContainerPort {
			t.Errorf("Service %s port %s: %d, container port %s is %d (keep them equal: the seeds name the port)", svc.Name, sp.Name, sp.Port, cp.Name, cp.ContainerPort)
		}
	}
}

// checkProbes: readiness on /readyz and liveness on /livez, HTTP GET on
// the API port.
func checkProbes(t *testing.T, c corev1.Container, ports map[string]corev1.ContainerPort, apiPort string) {
	t.Helper()
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/livez"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("container %s: no HTTP %s", c.Name, p.what)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			t.Errorf("container %s: %s path %q, want %q", c.Name, p.what, g.Path, p.path)
		}
		ok := g.Port.StrVal == apiPort || (g.Port.StrVal == "" && g.Port.IntVal == ports[apiPort].ContainerPort)
		if !ok {
			t.Errorf("container %s: %s port %s, want the API port %s", c.Name, p.what, g.Port.String(), apiPort)
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			t.Errorf("container %s: %s scheme %s (with -tls-cert, set HTTPS)", c.Name, p.what, g.Scheme)
		}
	}
}

// checkSecurity: non-root (uid 65532, the image's user), read-only root,
// no privilege escalation, every capability dropped, resources bounded,
// no service account token.
func checkSecurity(t *testing.T, what string, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot must be true", what)
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("%s: pod securityContext.runAsUser must be 65532 (the image's user)", what)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want the RuntimeDefault seccomp profile", what)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: container %s has no securityContext", what, c.Name)
	default:
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: container %s: readOnlyRootFilesystem must be true", what, c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s: allowPrivilegeEscalation must be false", what, c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: container %s is privileged", what, c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: container %s: capabilities must drop ALL and add none", what, c.Name)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: container %s runs as root", what, c.Name)
		}
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Errorf("%s: container %s requests no CPU", what, c.Name)
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: container %s requests no memory", what, c.Name)
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("%s: container %s has no memory limit", what, c.Name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false (the pods do not call the API server)", what)
	}
}

// checkFieldRef: name comes from the downward API field path.
func checkFieldRef(t *testing.T, c corev1.Container, name, path string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != name {
			continue
		}
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("container %s: %s must come from the downward API %s", c.Name, name, path)
		}
		return
	}
	t.Errorf("container %s: %s is not set (from %s)", c.Name, name, path)
}
