import Testing

@testable import PgScoreServe

@Suite struct TrainingRequestTests {
    @Test func defaultsAreMLTrainsDefaults() throws {
        let request = try TrainingRequest(body: ["source": "heart_labelled", "label": "sick"], previous: nil)
        #expect(request == TrainingRequest(source: "heart_labelled", label: "sick", algorithm: nil, hyperparams: "{}",
                                           testFraction: 0.25, seed: 42, exclude: []))
    }

    @Test func leftOutMembersComeFromThePreviousRun() throws {
        let previous: JSONValue = ["source": "public.heart", "label": "sick", "exclude": ["num"], "seed": 1]
        let request = try TrainingRequest(body: ["seed": 9], previous: previous)
        #expect(request.source == "public.heart" && request.exclude == ["num"] && request.seed == 9)
    }

    @Test(arguments: [
        #"{"label": "sick"}"#, #"{"source": "SELECT 1", "label": "x"}"#, #"{"source": "t; drop", "label": "x"}"#,
        #"{"source": "t", "label": "x", "test_fraction": 1}"#, #"{"source": "t", "label": "x", "seed": 1.5}"#,
        #"{"source": "t", "label": "x", "exclude": [1]}"#, #"{"source": "t", "label": "x", "hyperparams": []}"#,
        #"{"source": "t", "label": "x", "colour": 1}"#, #"[]"#,
    ])
    func rejectsBadArguments(body: String) throws {
        let value = try JSONValue.parse(Array(body.utf8))
        #expect(throws: Problem.self) { try TrainingRequest(body: value, previous: nil) }
    }
}

