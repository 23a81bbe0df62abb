// Package pattern compiles Amazon EventBridge event patterns and matches
// JSON events against them with EventBridge's semantics.
//
// A pattern is a JSON object whose leaves are arrays of accepted values or
// operator objects: exact strings, numbers, true/false/null, prefix, suffix,
// equals-ignore-case, wildcard, anything-but, numeric, cidr, exists, and the
// $or combinator. Fields are ANDed, the values of one leaf are ORed.
//
// The source of truth is what EventBridge itself answered: LocalStack's
// AWS-validated snapshot tests, every case of which is in
// testdata/recorded.jsonl and holds. Where AWS's record and the user guide
// disagree, AWS wins; the cases where they do:
//
//   - Exact numbers compare by value where event-ruler can compare them
//     (the number is exactly a float64): [300] matches 300.0, although the
//     guide says 300, 300.0 and 3.0e2 differ (number_comparison_float).
//     Other numbers compare by their JSON text.
//   - Keys with dots join like nested keys, in patterns and in events:
//     {"a.b": [1]} is {"a": {"b": [1]}}, and both match {"a.b": 1}
//     (dot_joining_event, dot_joining_pattern, the large payload case).
//     event-ruler's README says not to rely on it; AWS does it.
//   - anything-but's prefix, suffix, equals-ignore-case and wildcard take
//     one string or a list; with a list, the value matches when it matches
//     none of them (content_anything_prefix_list and its kin).
//   - anything-but with an empty prefix or suffix is refused ("Null
//     prefix/suffix not allowed"), and a cidr without exactly one '/' is
//     refused ("Malformed CIDR, one '/' required").
//   - Wildcards AWS finds too complex are refused ("Rule is too complex -
//     ..."). Complexity is event-ruler's MachineComplexityEvaluator (see
//     complexity.go), held to event-ruler's own test expectations in
//     testdata/complexity.jsonl; the limit, 10, is the largest AWS's record
//     allows (content_wildcard_complex_EXC is 11, the accepted
//     content_wildcard_repeating 7).
//   - Every refusal says, besides shopbus's message, EventBridge's reason in
//     its words ("(EventBridge: ...)"), event-ruler's text where AWS's was
//     not recorded. Invalid JSON is the exception: AWS quotes its parser.
//
// Choices where the sources are silent:
//
//   - Arrays are flattened: an event array matches when any element
//     matches, and objects inside arrays are treated as values of the
//     parent field, so two conditions under one array of objects may be
//     satisfied by different elements ({"a":{"x":["1"],"y":["2"]}} matches
//     a: [{x:1,y:3},{x:4,y:2}]). AWS's record has no case with two
//     conditions under one array of objects (list_within_dict has one), so
//     it does not decide this; the guide's rule that an array matches when
//     its intersection with the pattern's is non-empty, applied field by
//     field, does. event-ruler's rulesForJSONEvent is stricter
//     ("array-consistent"); we do not follow that method.
//   - A field is absent when it is missing, is an object, or is an empty
//     array. anything-but and every value operator need a present value;
//     exists:false is the only way to match an absent field (recorded:
//     the _missing_NEG cases).
//   - anything-but of strings (or of a prefix, suffix, ...) accepts values
//     that are not strings, since they are not among the excluded strings
//     (recorded: content_anything_prefix_int_value, _wildcard_int).
//   - A duplicated key in a pattern keeps its last value (user guide,
//     recorded: complex_multi_key); a duplicated key in an event
//     contributes all its values.
//   - AWS's TestEventPattern refuses an event without id, account, source,
//     time, region and detail-type; Match takes any JSON object, since
//     shopbus's own events carry no account or region.
//   - "$or" whose value is an object is an ordinary field name; "$or" with
//     an array must hold at least two sub-patterns.
//   - A cidr may have a /32 or /128 mask, which event-ruler's CIDR refuses;
//     AWS's record does not say which it does.
package pattern
