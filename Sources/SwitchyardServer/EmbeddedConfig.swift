// Generated from Examples/quickstart.yaml; EmbeddedConfigTests checks the two stay identical.
/// The configuration `switchyard serve` uses when it is given none, so step one of the README needs no file.
public enum EmbeddedConfig {
    public static let quickstart = #"""
        # Switchyard quickstart: one source, one EventBridge destination that takes every message type.
        # This is also the configuration `switchyard serve` uses when there is no ./switchyard.yaml.
        # Every ${VAR:-default} can be set from the environment; secrets are never printed.
        server:
          host: ${SWITCHYARD_HOST:-127.0.0.1}
          port: ${SWITCHYARD_PORT:-8080}
          adminToken: ${SWITCHYARD_ADMIN_TOKEN:-}      # operator endpoints (live log, replay) need it
          limits: { maxEventBytes: 32768, maxRequestBytes: 4194304 }
        storage:
          path: ${SWITCHYARD_STORAGE:-.switchyard}     # folder holding the SQLite queue
          sync: full                                   # fsync before answering 200; "normal" survives crashes, not power loss
        sources:
          - name: web
            writeKeys: ["${WEB_WRITE_KEY:-dev-write-key}"]
        destinations:
          - name: orders-bus
            type: eventbridge
            config:
              region: ${AWS_REGION:-us-east-1}
              accessKeyID: ${QUICKSTART_ACCESS_KEY_ID:-quickstart}
              accessKey: ${QUICKSTART_SECRET_ACCESS_KEY:-quickstart-secret}
              eventBusName: orders
              detailType: "{{ event }}"                  # a track's event name; other types send their type ("identify", "page", …)
              endpoint: ${EVENTBRIDGE_ENDPOINT:-http://127.0.0.1:4010}
        connections:
          - from: web
            to: [orders-bus]

        """#
}
