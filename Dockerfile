# blackwell: a static binary in a distroless image. See docs/DEPLOYMENT.md.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t blackwell .
#   docker run -p 8080:8080 -v blackwell-data:/var/lib/blackwell blackwell
#
# The SQLite driver is pure Go (modernc.org/sqlite), so CGO_ENABLED=0 builds a
# binary with no libc dependency.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/blackwell ./cmd/blackwell \
    && mkdir -p /out/data

# static-debian12 has CA certificates (for providers' HTTPS APIs) and tzdata,
# no shell; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/blackwell /usr/local/bin/blackwell
COPY --from=build --chown=65532:65532 /out/data /var/lib/blackwell
WORKDIR /var/lib/blackwell
VOLUME ["/var/lib/blackwell"]
ENV BLACKWELL_LISTEN=0.0.0.0:8080 \
    BLACKWELL_STORE=sqlite:///var/lib/blackwell/blackwell.db
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/blackwell"]
CMD ["serve"]
