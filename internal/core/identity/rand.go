package identity

import "crypto/rand"

// cryptoRand adapts crypto/rand for uuid.NewRandomFromReader.
type cryptoRand struct{}

func (cryptoRand) Read(b []byte) (int, error) { return rand.Read(b) }
