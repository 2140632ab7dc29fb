package tokenserver

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Instrument records a handler served beside the server's routes (the
// admin API) under the given route.
func TestInstrumentRecordsAHandlerBesideTheRoutes(t *testing.T) {
	h, records := recordingHarness(t)
	admin := h.srv.Instrument(RouteAdmin, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	admin.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/admin/v1/users/x", nil))
	got := records()
	if len(got) != 1 {
		t.Fatalf("%d records, want 1: %+v", len(got), got)
	}
	got[0].Duration = 0
	if want := (RequestRecord{Route: RouteAdmin, Method: http.MethodDelete, Status: http.StatusNoContent}); got[0] != want {
		t.Errorf("record %+v, want %+v", got[0], want)
	}

}
