package adminhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// decode reads a strict JSON object into v: Content-Type application/json,
// at most MaxBodyBytes, no unknown fields, nothing after the object.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return newProblem(http.StatusUnsupportedMediaType, TypeUnsupportedMedia, "Unsupported media type",
			"the request body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return decodeProblem(err)
		}
		return newProblem(http.StatusBadRequest, TypeMalformed, "Malformed request body", "data after the JSON object")
	}
	return nil
}

func decodeProblem(err error) error {
	var tooLarge *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return newProblem(http.StatusRequestEntityTooLarge, TypeTooLarge, "Request body too large",
			fmt.Sprintf("at most %d bytes", MaxBodyBytes))
	case errors.As(err, &typeErr):
		p := newProblem(http.StatusUnprocessableEntity, TypeValidation, "Invalid request field",
			fmt.Sprintf("must be %s", typeErr.Type))
		p.Field = typeErr.Field
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		p := newProblem(http.StatusUnprocessableEntity, TypeValidation, "Invalid request field", "unknown field")
		p.Field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return p
	case errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, TypeMalformed, "Malformed request body", "empty body")
	}
	return newProblem(http.StatusBadRequest, TypeMalformed, "Malformed request body", "not a JSON object")
}
