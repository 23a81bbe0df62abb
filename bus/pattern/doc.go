// Package pattern compiles Amazon EventBridge event patterns and matches
// JSON events against them with EventBridge's semantics.
//
// A pattern is a JSON object whose leaves are arrays of accepted values or
// operator objects: exact strings, numbers, true/false/null, prefix, suffix,
// equals-ignore-case, wildcard, anything-but, numeric, cidr, exists, and the
// $or combinator. Fields are ANDed, the values of one leaf are ORed.
//
// Choices where the sources differ or are silent:
//
//   - Arrays are flattened, as in EventBridge: an event array matches when any
//     element matches, and objects inside arrays are treated as values of the
//     parent field. Two conditions under one array of objects may therefore
//     be satisfied by different elements. event-ruler's rulesForJSONEvent is
//     stricter ("array-consistent"); we follow EventBridge, not that method.
//   - Exact number values compare by their JSON text, as the EventBridge user
//     guide says (300, 300.0 and 3.0e2 differ); use numeric to compare by
//     value. anything-but with numbers compares by value, as event-ruler does.
//   - A field is absent when it is missing, is an object, or is an empty
//     array. anything-but and every value operator need a present value;
//     exists:false is the only way to match an absent field.
//   - anything-but of strings (or of a prefix, suffix, ...) accepts values
//     that are not strings, since they are not among the excluded strings.
//   - Paths are structural: a key "a.b" is not the same as "a" then "b".
//   - A duplicated key in a pattern keeps its last value (user guide); a
//     duplicated key in an event contributes all its values.
//   - "$or" whose value is an object is an ordinary field name, as in
//     event-ruler; "$or" with an array must hold at least two sub-patterns.
package pattern
