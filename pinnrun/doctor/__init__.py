"""`pinnrun doctor`: this machine's installation (local.py), and with --hosts/--cluster every host
of a job (hosts.py, with ssh.py, mesh.py, jobs.py and remote.py, the part that runs on each host)."""
