namespace Backstop.Infrastructure.Configuration;

/// <summary>
/// The verbs of the <c>backstop</c> binary. Anything not recognised is refused (exit 2) rather than treated as
/// "serve": a typo such as <c>backstop migarte</c> must not start a second instance on the service's port.
/// </summary>
internal static class CommandLine
{
    public const int Usage = 2;

    public enum Verb
    {
        Serve,
        Migrate,
        Healthcheck,
        AdminKeyRotate,
        SendTestWebhook,
        Help,
        Unknown,
    }

    /// <summary>The verb and the arguments that follow it (host options such as <c>--urls</c>).</summary>
    public static (Verb Verb, string[] Arguments) Parse(string[] args)
    {
        if (args.Any(a => a is "--help" or "-h" or "-?" or "/?")) return (Verb.Help, []);
        if (args.Length == 0) return (Verb.Serve, args);
        return args[0] switch
        {
            "serve" => (Verb.Serve, args[1..]),
            "migrate" => (Verb.Migrate, args[1..]),
            "healthcheck" => (Verb.Healthcheck, args[1..]),
            "help" => (Verb.Help, []),
            "admin-key" when args.Length > 1 && args[1] == "rotate" => (Verb.AdminKeyRotate, args[2..]),
            "send-test-webhook" => (Verb.SendTestWebhook, args[1..]),
            // Host options without a verb (`backstop --urls http://…`) keep meaning "serve".
            var first when first.StartsWith("--", StringComparison.Ordinal) => (Verb.Serve, args),
            _ => (Verb.Unknown, args),
        };
    }

    public const string Text = """
        Usage: backstop [command] [options]

        Commands:
          serve                 Run the service (the default when no command is given).
          migrate               Apply database migrations, then exit.
          healthcheck [url]     Probe a running instance's /health/ready; exit 0 when ready, 1 otherwise.
                                Without a url: BACKSTOP_HEALTHCHECK_URL, else the address the service listens
                                on (--urls, ASPNETCORE_URLS, urls in configuration), else http://127.0.0.1:8080.
          admin-key rotate      Replace the generated admin key (audited): the new key is printed to the terminal,
                                or written to Admin:KeyFile (0600) when stdout is not a terminal; running
                                instances stop accepting the old one within seconds.
          send-test-webhook stripe [url]
                                Sign a test Stripe event (type backstop.test) with Stripe:WebhookSecret and post it
                                to a running instance's /webhooks/stripe (url: its base address; default as for
                                healthcheck); prints the event id and the answer; exit 0 when it was stored.
          help, --help          Show this text.

        Options (any setting can also be given as --Section:Key=value or as an environment variable Section__Key):
          --urls <urls>         Addresses to listen on (default http://localhost:8080; also ASPNETCORE_URLS).

        Settings that matter first (defaults in appsettings.json beside the binary; see README.md):
          Database:Provider            sqlite (default, ./data/backstop.db) or postgres
          Database:ConnectionString    connection string of that database
          Admin:ApiKey                 the operator's key; generated and printed once on first start when empty
          Email:Smtp:Host              SMTP server; without it email is written to Email:PickupFolder (development)
          Jobs:RunServer               false to run no recurring jobs on this instance

        Configuration is read from appsettings.json beside the binary, then from the working directory's, then
        from environment variables and the command line (later wins).
        """;
}
