namespace Backstop.Infrastructure.Configuration;

internal static class BackstopConfiguration
{
    /// <summary>
    /// Puts <c>appsettings.json</c> (and the environment's file) beside the binary below everything else, so a
    /// binary started from another directory still gets its defaults, and a working directory's file still
    /// overrides them as before.
    /// </summary>
    public static void AddBinaryDirectoryFiles(IConfigurationBuilder configuration, string environment)
    {
        var dir = AppContext.BaseDirectory;
        if (Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar) == Path.GetFullPath(Directory.GetCurrentDirectory()).TrimEnd(Path.DirectorySeparatorChar))
            return;
        var provider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(dir);
        var sources = configuration.Sources;
        sources.Insert(0, Json(provider, "appsettings.json"));
        sources.Insert(1, Json(provider, $"appsettings.{environment}.json"));
    }

    private static Microsoft.Extensions.Configuration.Json.JsonConfigurationSource Json(Microsoft.Extensions.FileProviders.IFileProvider provider, string path) =>
        new() { FileProvider = provider, Path = path, Optional = true, ReloadOnChange = false };

    /// <summary>The configuration the service would see, built the same way, for commands that do not start a host.</summary>
    public static IConfiguration ForCommand(string[] args)
    {
        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")
                          ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? "Production";
        // The order of WebApplication.CreateBuilder: prefixed variables, the files, plain variables, the command line.
        var builder = new ConfigurationBuilder()
            .AddEnvironmentVariables("DOTNET_")
            .AddEnvironmentVariables("ASPNETCORE_")
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), $"appsettings.{environment}.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args);
        AddBinaryDirectoryFiles(builder, environment);
        return builder.Build();
    }
}
