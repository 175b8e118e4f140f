// Package omproto speaks the OM API of New Rock OM IP-PBXs: XML documents
// over HTTP in two directions (../shared/omapi.md in the repository's
// workspace describes it).
//
// Commands go from ivrd to the device: build one of the Command types and
// send it with a Client, which keeps the device's HTTP/1.0 habits and turns
// its answers into values and typed errors. Reports come from the device: a
// Receiver is the http.Handler that accepts them, checks who sent them,
// decodes them and hands each to a callback.
//
// Decoding is tolerant, as devices differ by firmware: children may come in
// any order, every attribute is optional, names are matched without regard
// to case, unknown events and children are kept rather than refused, and a
// body may be empty, hold only a comment, start with a BOM or carry a
// signature before or after the main element. Malformed XML is a
// *SyntaxError; nothing in this package panics on input.
package omproto
