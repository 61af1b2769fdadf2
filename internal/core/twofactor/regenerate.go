package twofactor

// NewRecoveryCodes makes a fresh set of RecoveryCodes codes for the user
// and the hashes to store; the caller stores them in place of the old set
// (store.Accounts.ReplaceRecoveryCodes) and shows the codes once.
func (s *Service) NewRecoveryCodes(userUID string) (codes, hashes []string, err error) {
	codes = make([]string, RecoveryCodes)
	hashes = make([]string, RecoveryCodes)
	for i := range codes {
		if codes[i], err = s.newRecoveryCode(); err != nil {
			return nil, nil, err
		}
		hashes[i] = recoveryHash(userUID, codes[i])
	}
	return codes, hashes, nil
}
