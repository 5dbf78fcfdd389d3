using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Backstop.Infrastructure.Security;

/// <summary>
/// Keeps ASP.NET Core's data-protection key ring in our database, so every instance (and every restart) shares it:
/// an antiforgery token the jobs dashboard issued on one instance is accepted by another. The keys are stored as the
/// framework hands them over (the database is trusted like the rest of our state).
/// </summary>
internal sealed class DatabaseXmlRepository(Db db, TimeProvider time) : IXmlRepository
{
    // The framework calls these synchronously, rarely (key ring load and key creation).
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        using var connection = db.OpenAsync().GetAwaiter().GetResult();
        return connection.Query<string>("select xml from data_protection_keys order by created_at")
            .Select(XElement.Parse).ToList();
    }

    public void StoreElement(XElement element, string friendlyName)
    {
        using var connection = db.OpenAsync().GetAwaiter().GetResult();
        var now = time.GetUtcNow();
        connection.Execute(
            """
            insert into data_protection_keys (id, xml, created_at, updated_at) values (@id, @xml, @now, @now)
            on conflict (id) do nothing
            """,
            new { id = string.IsNullOrEmpty(friendlyName) ? Ids.New(time) : friendlyName, xml = element.ToString(SaveOptions.DisableFormatting), now });
    }
}
