using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Support;

/// <summary>
/// What a test class's application needs beyond the defaults: settings, services, local provider servers. The same
/// setup type serves both dialects (<c>SqliteApp&lt;T&gt;</c> and <c>PostgresApp&lt;T&gt;</c>), so a test class
/// declares its needs once. Servers are started before the database is prepared and stopped after the app.
/// </summary>
public abstract class AppSetup : IAsyncDisposable
{
    public virtual ValueTask StartAsync() => ValueTask.CompletedTask;

    public virtual void Configure(Dictionary<string, string?> settings) { }

    public virtual void ConfigureServices(IServiceCollection services) { }

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The application as it starts with zero configuration (plus the test admin key and clock).</summary>
public sealed class DefaultSetup : AppSetup;
