# Quicksilver image: qs-node and qs-frontend, static binaries on scratch.
#
# Nothing is pulled and nothing is compiled here: deploy/build-image.sh
# builds the binaries on the host (CGO_ENABLED=0) and prepares
# deploy/bin/rootfs (a passwd line for the non-root user 65532 and an
# empty /data), then runs `docker build` on this file. Build with the
# script, not by hand:
#
#	deploy/build-image.sh            # quicksilver:dev
#
# The entrypoint is qs-node; a front end overrides it with /qs-frontend
# (and its health check, /qs-frontend probe on :8080). See docs/deploy.md.
FROM scratch

COPY deploy/bin/rootfs/etc/passwd deploy/bin/rootfs/etc/group /etc/
COPY --chown=65532:65532 deploy/bin/rootfs/data /data
COPY deploy/bin/qs-node deploy/bin/qs-frontend /

USER 65532:65532
# /data: mount a volume there (compose, the StatefulSet); no VOLUME line,
# so that a front end, which keeps no state, gets no anonymous volume.
WORKDIR /data

# qs-node: transport 7100, gossip 7200 (TCP and UDP), API 7300.
# qs-frontend: transport 7000, gossip 7010 (TCP and UDP), API 8080.
EXPOSE 7100 7200 7200/udp 7300 7000 7010 7010/udp 8080

HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
	CMD ["/qs-node", "probe", "http://127.0.0.1:7300/readyz"]

ENTRYPOINT ["/qs-node"]
