package racs

import "encoding/binary"

func putUvarint(b []byte, v uint64) int { return binary.PutUvarint(b, v) }

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }
