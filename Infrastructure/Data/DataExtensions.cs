using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Backstop.Infrastructure.Data;

internal static class DataExtensions
{
    public static IServiceCollection AddData(this IServiceCollection services)
    {
        services.AddCheckedOptions<DatabaseOptions>(DatabaseOptions.Section);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<Db>();
        services.AddSingleton<Migrator>();
        return services;
    }
}
