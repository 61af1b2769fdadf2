package cli

import "io"

var errEOF = io.EOF
