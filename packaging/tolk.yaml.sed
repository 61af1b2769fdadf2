# Turns tolk.example.yaml into the Debian package's /etc/tolk/tolk.yaml
# (make dist; TestPackagedConfig runs it too, so the two cannot drift):
# the same settings and defaults, the database under /var/lib/tolk.
1i\
# /etc/tolk/tolk.yaml: tolk's configuration, installed by the Debian package.\
# The systemd unit (tolk.service) passes it with --config; run commands by\
# hand the same way and as the service's user, so that the files they create\
# stay the service's:  runuser -u tolk -- tolk --config /etc/tolk/tolk.yaml …\
# dpkg keeps your edits on upgrade (a conffile). Set at least `issuer` to\
# the public https:// URL; then: systemctl enable --now tolk\
# It may hold secrets (secret_key, smtp_url): readable by root and tolk only.\

s|^db: sqlite:tolk\.db$|db: sqlite:/var/lib/tolk/tolk.db|
