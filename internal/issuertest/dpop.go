package issuertest

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenserver/tokenserver/dpop"
)

// LoginDPoP runs the password grant for username as clientID with a DPoP
// proof by key (RFC 9449 §5), retrying once with the server's nonce when
// asked (use_dpop_nonce, §8), and returns the DPoP-bound access token and
// the refresh token. A client without a secret is public: its client_id
// goes in the form.
func (is *Issuer) LoginDPoP(clientID, username, scope string, key crypto.Signer) (access, refresh string, err error) {
	form := url.Values{"grant_type": {"password"}, "username": {username},
		"password": {is.users[username].Password}, "scope": {scope}}
	nonce := ""
	for attempt := 0; ; attempt++ {
		proof, err := dpop.NewProof(key, "", dpop.ProofClaims{Method: http.MethodPost, URL: is.URL + "/token", Nonce: nonce})
		if err != nil {
			return "", "", fmt.Errorf("issuertest: %w", err)
		}
		status, hdr, body, err := is.postDPoP(clientID, form, proof)
		if err != nil {
			return "", "", err
		}
		var answer struct {
			Error        string `json:"error"`
			TokenType    string `json:"token_type"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return "", "", fmt.Errorf("issuertest: /token: %w", err)
		}
		if status == http.StatusBadRequest && answer.Error == "use_dpop_nonce" && attempt == 0 {
			nonce = hdr.Get(dpop.NonceHeader)
			continue
		}
		if status != http.StatusOK {
			return "", "", fmt.Errorf("issuertest: /token: %d: %s", status, body)
		}
		if answer.TokenType != "DPoP" || answer.AccessToken == "" {
			return "", "", errors.New("issuertest: /token: no DPoP-bound access token")
		}
		return answer.AccessToken, answer.RefreshToken, nil
	}
}

func (is *Issuer) postDPoP(clientID string, form url.Values, proof string) (int, http.Header, []byte, error) {
	secret := is.secrets[clientID]
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodPost, is.URL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(dpop.HeaderName, proof)
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := is.srv.Client().Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("issuertest: /token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("issuertest: /token: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}
