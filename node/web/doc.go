// Package web holds the pages a node serves to people who will never type
// a curl command: the traveler's wallet (/wallet), the checkpoint scanner
// (/scan) and the operator console (/console). They are static files —
// HTML, one stylesheet, vanilla JavaScript, the zh-CN and English message
// catalogue and a bundled QR decoder — embedded in the binary, so a node
// on a closed provincial network needs no CDN. The pages call the node's
// JSON API with the bearer token in the Authorization header; node/api
// serves them with their security headers.
package web
