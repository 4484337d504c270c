import Hummingbird
import NIOCore

extension Gateway {
    /// `/openapi.yaml` and `/openapi.json`: the API document this binary was built with
    /// (embedded by SwiftPM from the repository's openapi.yaml and openapi.json, so the
    /// daemon serves it from wherever it runs). No key needed: clients generate from it.
    func addOpenAPIRoutes(to router: Router<GatewayContext>) {
        router.get("/openapi.yaml") { _, _ -> Response in
            Self.document(PackageResources.openapi_yaml, contentType: "application/yaml; charset=utf-8")
        }
        router.get("/openapi.json") { _, _ -> Response in
            Self.document(PackageResources.openapi_json, contentType: "application/json; charset=utf-8")
        }
    }

    private static func document(_ bytes: [UInt8], contentType: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: buffer))
    }
}
