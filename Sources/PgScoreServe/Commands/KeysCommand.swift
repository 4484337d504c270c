import ArgumentParser
import Logging
import PostgresNIO

/// `pgscore keys create | revoke | list`: API keys of the gateway, in `ml.api_keys`.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list and revoke API keys of the REST gateway.",
        discussion: "Only a key's SHA-256 is stored; `create` prints the key once.",
        subcommands: [Create.self, Revoke.self, List.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a key and print it (once).",
            discussion: "Scopes nest: predict (score, feedback, read projects and versions) < train (also train, runs, export) < admin (also deploy, roll back).")

        @OptionGroup var database: DatabaseOptions

        @Option(help: ArgumentHelp("predict, train or admin.", valueName: "scope"))
        var scope: String

        @Option(help: ArgumentHelp("Who or what the key is for.", valueName: "name"))
        var name: String

        @Option(name: .customLong("project"),
                help: ArgumentHelp("A project the key may use (repeat for several); none: every project.", valueName: "project"))
        var projects: [String] = []

        func validate() throws {
            guard Scope(rawValue: scope) != nil else { throw ValidationError("--scope must be predict, train or admin") }
            guard !name.isEmpty else { throw ValidationError("--name must not be empty") }
            for project in projects where !TrainingRequest.isProjectName(project) {
                throw ValidationError("--project \"\(project)\" is not a project name (letters, digits, _ . -, at most 63)")
            }
        }

        func run() async throws {
            let key = APIKey.generate()
            let hash = APIKey.hash(key)
            let (scope, name) = (self.scope, self.name)
            let projects: [String]? = self.projects.isEmpty ? nil : self.projects
            let id = try await KeysCommand.withDatabase(database) { connection -> Int in
                if let id = try await connection.firstRow(
                    """
                    INSERT INTO ml.api_keys (name, scope, key_hash, projects)
                    VALUES (\(name), \(scope), \(hash), \(projects)::text[]) RETURNING id
                    """,
                    as: Int.self) { return id }
                throw CommandFailure(description: "the key was not stored")
            }
            print("id:    \(id)")
            print("scope: \(scope)")
            print("projects: \(projects?.joined(separator: ", ") ?? "all")")
            print("key:   \(key)")
            print("(keep the key: only its hash is stored)")
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id: it stops working at once.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The key's id (pgscore keys list).")
        var id: Int

        func run() async throws {
            let id = self.id
            let revoked = try await KeysCommand.withDatabase(database) { connection -> Bool in
                try await connection.firstRow(
                    "UPDATE ml.api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = \(id) RETURNING id",
                    as: Int.self) != nil
            }
            guard revoked else { throw CommandFailure(description: "no key with id \(id)") }
            print("revoked key \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys: id, scope, name, projects, created, revoked.")

        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let rows = try await KeysCommand.withDatabase(database) { connection -> [(Int, String, String, String, String, String?)] in
                let rows = try await connection.query(
                    """
                    SELECT id, scope, name, coalesce(array_to_string(projects, ','), 'all'),
                           to_char(created_at, 'YYYY-MM-DD HH24:MI:SS'),
                           to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SS')
                      FROM ml.api_keys ORDER BY id
                    """, logger: KeysCommand.logger)
                var result: [(Int, String, String, String, String, String?)] = []
                for try await row in rows.decode((Int, String, String, String, String, String?).self) { result.append(row) }
                return result
            }
            print("id\tscope\tname\tprojects\tcreated\trevoked")
            for (id, scope, name, projects, created, revoked) in rows {
                print("\(id)\t\(scope)\t\(name)\t\(projects)\t\(created)\t\(revoked ?? "-")")
            }
        }
    }

    /// Errors only: the pool's background warnings mean nothing to a one-shot command.
    static let logger: Logger = {
        var logger = Logger(label: "pgscore.keys")
        logger.logLevel = .error
        return logger
    }()

    /// Runs `body` in a transaction on one connection of its own (no pool: a failure to
    /// connect says what failed); the connect timeout bounds the wait.
    static func withDatabase<T: Sendable>(
        _ options: DatabaseOptions, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let url = try options.resolve()
        do {
            return try await DirectConnection.with(url, applicationName: "pgscore keys", logger: logger) { connection in
                // committed, and the COMMIT confirmed, before the key is printed
                try await connection.transaction { try await body($0) }
            }
        } catch let failure as ConnectionFailure {
            throw CommandFailure(description: failure.description)
        } catch {
            guard let problem = Problem.from(database: error) else { throw error }
            throw CommandFailure(description: "\(url): \(problem.detail)")
        }
    }
}

/// A command that could not do its work (not a usage error): message, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}
