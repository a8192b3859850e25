/** `glambdar help`: every command, and where the client commands go. */
export const USAGE = `usage: glambdar <command> [arguments]

Running the runtime (on this machine, data in GLAMBDAR_DIR, default ~/.glambdar):
  serve [--cleanup-on-exit]     run the runtime (GLAMBDAR_PORT, GLAMBDAR_DIR, GLAMBDAR_IMAGE ...);
                                --cleanup-on-exit (or GLAMBDAR_CLEANUP_ON_EXIT=1) removes its
                                containers when it stops; without it they stay to be adopted
  down                          remove every container of the runtime of GLAMBDAR_DIR (stop it first)
  gc                            remove the containers of runtimes whose data folder is gone

Talking to a runtime (GLAMBDAR_URL, default http://127.0.0.1:8000; the admin token comes from
GLAMBDAR_TOKEN, else from admin-token in GLAMBDAR_DIR):
  deploy <file.zip> [k=v ...] [--wait]
                                deploy a function (spec fields as k=v, e.g. rateLimit=5);
                                --wait answers once the new generation has loaded
  invoke <name> [json] [--key K] invoke a function with a JSON body (a private one: with key K,
                                or the admin token)
  invoke --async <name> [json]  queue an async invocation; prints its request id
  jobs [name] [--status S]      async jobs, newest first (S: queued, running, succeeded, dead)
  job <id>                      one async job as JSON: status, attempts, response, error
  retry <id>                    queue a dead job again for a new round of tries
  info [name] [-o json|yaml|wide]
                                list functions as a table, or describe one function
  logs <name> [limit] [-f] [--container] [-o json]
                                invocation records, newest first: time, status, duration,
                                request id, then the output; -f follows new ones until
                                Ctrl-C; --container shows what the function printed outside
                                invocations (at load, in timers)
  config <name> k=v ...         change spec fields live (a JSON merge patch: env='{"A":null}'
                                removes A; traffic='[{"revision":2,"percent":90},...]')
  revisions <name>              the kept revisions: traffic, tags, containers
  rollback <name> [N|tag]       roll back to revision N (or the one a tag names; default:
                                the revision before the latest), as a new generation
  del <name>                    delete a function
  secret set <name> [--from-file F | value | -]
                                store a secret (from a file, the argument, or stdin with -)
  secret ls                     list secrets: names, sizes, times, users (never values)
  secret rm <name>              delete a secret no function uses
  keys create <function>        make a key for a private function (shown once)
  keys ls <function>            list a function's keys (ids and times)
  keys rm <function> <id>       revoke a key
  ui                            print the dashboard's address (it opens nothing); sign in there
                                with the admin token
  export <name>|--all --format knative|kubernetes [--image-prefix R]
                                the function(s) as Knative or Kubernetes YAML, validated, for
                                kubectl apply -f - (images: <R>/<name>:r<revision>-<digest>,
                                R defaults to glambdar; docs/kubernetes.md)
  image <name> [--tag T] [--image-prefix R]
                                build the function's latest revision as an image with the
                                local Docker engine, offline: <R>/<name>:<T>, T defaulting to
                                r<revision>-<digest> (the image the export references)

  help, -h, --help              this text
  version, --version            the version`;
