#!/bin/sh
# certbot deploy hook for a game server that serves wss:// itself (docs/DEPLOYING.md, "TLS in
# Godot, without a proxy"). Install as /etc/letsencrypt/renewal-hooks/deploy/game-server.sh
# (chmod 755): certbot runs it as root after every successful renewal, with
# RENEWED_LINEAGE=/etc/letsencrypt/live/DOMAIN. privkey.pem there is readable by root alone, so
# the files are copied where the service's group (and nobody else) may read them.
# scripts/test-deploy-nginx.sh runs it with the three variables below pointed at a test folder.
set -eu
dest=${GAME_TLS_DIR:-/etc/game-server/tls}
group=${GAME_TLS_GROUP:-gameserver}

install -d -m 0750 -o root -g "$group" "$dest"
for f in privkey.pem cert.pem chain.pem; do
    # Copy, then rename: a server starting meanwhile never reads half a file.
    install -m 0640 -o root -g "$group" "$RENEWED_LINEAGE/$f" "$dest/.$f.new"
    mv -f "$dest/.$f.new" "$dest/$f"
done

# The server reads the files in listen(): unless it reloads them itself with update_tls()
# (docs/DEPLOYING.md), restarting it is what makes the new certificate count, and it drops every
# player. With update_tls(), replace this line with `true`.
${GAME_SERVER_RESTART:-systemctl restart game-server.service}
