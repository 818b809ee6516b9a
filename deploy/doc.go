// Package deploy holds the deployment files of Quicksilver and their
// tests: the image (the repository's Dockerfile, built by
// deploy/build-image.sh), deploy/docker-compose.yml and the Kubernetes
// manifests in deploy/k8s. The package has no code of its own;
// compose_test.go runs the Compose cluster (skipped with -short or without
// Docker) and k8s_test.go decodes every manifest strictly into the typed
// Kubernetes objects and checks their invariants. See docs/deploy.md.
package deploy
