package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// This file reads deploy/kubernetes as kustomize would, far enough to check
// it without kustomize: every path a kustomization names exists, every patch
// targets an object of its base, every file is used, and every document
// decodes strictly. It does not apply patches; where kubectl is installed,
// TestKubernetesManifests also checks kubectl kustomize's own rendering.

const kubernetesDir = "../../deploy/kubernetes"

// kustomization is the part of kustomize's Kustomization this repository
// uses; anything else in a kustomization.yaml fails the strict decode, so a
// new field means teaching this test about it.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace,omitempty"`
	Resources  []string         `json:"resources,omitempty"`
	Images     []kustomizeImage `json:"images,omitempty"`
	Patches    []kustomizePatch `json:"patches,omitempty"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
}

type kustomizePatch struct {
	Path   string          `json:"path"`
	Target *kustomizeMatch `json:"target,omitempty"`
}

type kustomizeMatch struct {
	Group   string `json:"group,omitempty"`
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
}

// jsonPatchOp is one RFC 6902 operation.
type jsonPatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// manifest is one YAML document, converted to JSON.
type manifest struct {
	where      string // file (and document number)
	apiVersion string
	kind       string
	name       string
	namespace  string
	json       []byte
}

// decodeStrict decodes JSON into v, refusing fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

// splitYAML returns the documents of a YAML stream, converted to JSON
// (duplicate keys refused), without the empty ones.
func splitYAML(t *testing.T, where string, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	var doc strings.Builder
	flush := func() {
		j, err := yaml.YAMLToJSONStrict([]byte(doc.String()))
		doc.Reset()
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		if s := string(bytes.TrimSpace(j)); s != "null" && s != "" {
			out = append(out, j)
		}
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.TrimRight(line, " ") == "---" {
			flush()
			continue
		}
		doc.WriteString(line + "\n")
	}
	flush()
	return out
}

func readManifests(t *testing.T, path string) []manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return nil
	}
	var out []manifest
	for i, j := range splitYAML(t, path, data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			t.Errorf("%s #%d: %v", path, i, err)
			continue
		}
		out = append(out, manifest{
			where: fmt.Sprintf("%s #%d", relPath(path), i), apiVersion: head.APIVersion, kind: head.Kind,
			name: head.Metadata.Name, namespace: head.Metadata.Namespace, json: j,
		})
	}
	return out
}

func relPath(p string) string {
	if r, err := filepath.Rel(kubernetesDir, p); err == nil {
		return "deploy/kubernetes/" + r
	}
	return p
}

// clusterScoped are the kinds kustomize's namespace setting leaves alone.
func clusterScoped(kind string) bool {
	return kind == "Namespace"
}

// kustomized is what loadKustomization collects.
type kustomized struct {
	objects []manifest
	images  []kustomizeImage
	used    map[string]bool // files read, for the unused-file check
}

// loadKustomization reads dir/kustomization.yaml and, recursively, what it
// names; it reports missing paths, patches whose target is not among the
// objects, and image overrides no container uses.
func loadKustomization(t *testing.T, dir string, k *kustomized) {
	t.Helper()
	kpath := filepath.Join(dir, "kustomization.yaml")
	k.used[kpath] = true
	data, err := os.ReadFile(kpath)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	docs := splitYAML(t, kpath, data)
	if len(docs) != 1 {
		t.Errorf("%s: %d documents, want 1", relPath(kpath), len(docs))
		return
	}
	var kz kustomization
	if err := decodeStrict(docs[0], &kz); err != nil {
		t.Errorf("%s: %v", relPath(kpath), err)
		return
	}
	if kz.APIVersion != "kustomize.config.k8s.io/v1beta1" || kz.Kind != "Kustomization" {
		t.Errorf("%s: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", relPath(kpath), kz.APIVersion, kz.Kind)
	}
	first := len(k.objects)
	for _, r := range kz.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		switch {
		case err != nil:
			t.Errorf("%s: resource %s: %v", relPath(kpath), r, err)
		case st.IsDir():
			loadKustomization(t, p, k)
		default:
			k.used[p] = true
			k.objects = append(k.objects, readManifests(t, p)...)
		}
	}
	if kz.Namespace != "" {
		for i := first; i < len(k.objects); i++ {
			if !clusterScoped(k.objects[i].kind) {
				k.objects[i].namespace = kz.Namespace
			}
		}
	}
	for _, p := range kz.Patches {
		path := filepath.Join(dir, p.Path)
		k.used[path] = true
		checkPatch(t, relPath(kpath), path, p.Target, k.objects)
	}
	for _, img := range kz.Images {
		if !slices.Contains(containerImages(t, k.objects), img.Name) {
			t.Errorf("%s: image override %q matches no container image", relPath(kpath), img.Name)
		}
		k.images = append(k.images, img)
	}
}

// checkPatch checks that a patch file decodes (a JSON 6902 operation list
// with a target, or a strategic-merge patch of a typed object) and that its
// target is one of objects.
func checkPatch(t *testing.T, from, path string, target *kustomizeMatch, objects []manifest) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: patch: %v", from, err)
		return
	}
	docs := splitYAML(t, path, data)
	if len(docs) != 1 {
		t.Errorf("%s: %d documents, want 1", relPath(path), len(docs))
		return
	}
	want := target
	if bytes.HasPrefix(bytes.TrimSpace(docs[0]), []byte("[")) {
		var ops []jsonPatchOp
		if err := decodeStrict(docs[0], &ops); err != nil {
			t.Errorf("%s: JSON patch: %v", relPath(path), err)
		}
		for _, op := range ops {
			if !slices.Contains([]string{"add", "remove", "replace", "move", "copy", "test"}, op.Op) || !strings.HasPrefix(op.Path, "/") {
				t.Errorf("%s: operation %+v is not RFC 6902", relPath(path), op)
			}
		}
		if target == nil {
			t.Errorf("%s: a JSON patch needs a target", relPath(path))
			return
		}
	} else {
		m := manifest{where: relPath(path), json: docs[0]}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(docs[0], &head)
		m.apiVersion, m.kind, m.name = head.APIVersion, head.Kind, head.Metadata.Name
		decodeObject(t, m, &k8sObjects{}) // a strategic-merge patch is a partial object: strict too
		if want == nil {
			group, version, _ := strings.Cut(head.APIVersion, "/")
			if version == "" {
				group, version = "", group
			}
			want = &kustomizeMatch{Group: group, Version: version, Kind: head.Kind, Name: head.Metadata.Name}
		}
	}
	for _, o := range objects {
		group, version, _ := strings.Cut(o.apiVersion, "/")
		if version == "" {
			group, version = "", group
		}
		if o.kind == want.Kind && o.name == want.Name &&
			(want.Group == "" || want.Group == group) && (want.Version == "" || want.Version == version) {
			return
		}
	}
	t.Errorf("%s: patch %s targets %+v, which no resource of this kustomization defines", from, relPath(path), *want)
}

func containerImages(t *testing.T, objects []manifest) []string {
	t.Helper()
	var objs k8sObjects
	for _, m := range objects {
		switch m.kind {
		case "Deployment", "Job":
			decodeObject(t, m, &objs)
		}
	}
	var out []string
	for _, p := range objs.podTemplates() {
		for _, c := range p.spec.Containers {
			out = append(out, c.Image)
		}
	}
	return out
}

// k8sObjects are the decoded objects, by kind.
type k8sObjects struct {
	namespaces      []corev1.Namespace
	serviceAccounts []corev1.ServiceAccount
	deployments     []appsv1.Deployment
	jobs            []batchv1.Job
	services        []corev1.Service
	pdbs            []policyv1.PodDisruptionBudget
	hpas            []autoscalingv2.HorizontalPodAutoscaler
	networkPolicies []networkingv1.NetworkPolicy
	serviceMonitors []serviceMonitor
	all             []manifest
}

// unusedFiles lists YAML files under deploy/kubernetes no kustomization
// reads (a leftover, such as the single-file manifest this layout replaced).
func unusedFiles(t *testing.T, used map[string]bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(kubernetesDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && !used[p] {
			out = append(out, relPath(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
